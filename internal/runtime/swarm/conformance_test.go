package swarm

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/runtime"
	"github.com/hotswap/hotswap/internal/runtime/runtimetest"
)

var serviceSeq atomic.Int64

// newRuntime returns a runtime for a service of its own on the test
// cluster; edit adjusts its config.
func newRuntime(t *testing.T, edit func(*Config)) *Runtime {
	t.Helper()
	c := needCluster(t)
	cfg := Config{
		Service:      fmt.Sprintf("t%d-%d", time.Now().Unix()%100000, serviceSeq.Add(1)),
		Image:        testImage,
		StopGrace:    2 * time.Second,
		PollInterval: 100 * time.Millisecond,
		Owner:        "swarm-test",
	}
	if edit != nil {
		edit(&cfg)
	}
	rt, err := New(c.Manager().Client, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestConformance runs the shared runtime suite against release services
// on the two-node cluster, one replica each.
func TestConformance(t *testing.T) {
	needCluster(t)
	runtimetest.Run(t, runtimetest.Harness{
		New:            func(t *testing.T) runtime.Runtime { return newRuntime(t, nil) },
		MissingVersion: "v0-missing",
		HookOK:         []string{"hook", "--exit", "0"},
		HookOKOutput:   "hook ran",
		HookFail:       []string{"--bogus"},
		HookFailCode:   2,
		HookFailOutput: "flag provided but not defined",
		HookSlow:       []string{"--no-listen"},
		Lists:          true,
		Timeout:        90 * time.Second,
	})
}
