package docker

import (
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/runtime"
	"github.com/hotswap/hotswap/internal/runtime/docker/dockertest"
	"github.com/hotswap/hotswap/internal/runtime/runtimetest"
)

// TestConformance runs the shared runtime suite against containers, once
// per way of reaching them. The images live under an in-process registry's
// name, so the missing version is a real "manifest unknown" from a
// reachable registry rather than a failed lookup of Docker Hub.
func TestConformance(t *testing.T) {
	host := dockertest.StartRegistry(t, "", "")
	f := newFixture(t, host+"/conformance/web", runtimetest.Versions...)
	for _, reach := range []Reach{ReachHost, ReachNetwork} {
		t.Run(string(reach), func(t *testing.T) {
			runtimetest.Run(t, runtimetest.Harness{
				New: func(t *testing.T) runtime.Runtime {
					return f.runtime(t, func(c *Config) { c.Reach = reach })
				},
				MissingVersion: "v0-missing",
				// The image's entrypoint runs the sample app for arguments
				// starting with "-" and a scripted program for "hook".
				HookOK:         []string{"hook", "--exit", "0"},
				HookOKOutput:   "hook ran",
				HookFail:       []string{"--bogus"},
				HookFailCode:   2,
				HookFailOutput: "flag provided but not defined",
				HookSlow:       []string{"--no-listen"},
				Lists:          true,
				Timeout:        60 * time.Second,
			})
		})
	}
}
