package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/runtime/docker/dockertest"
)

// fixture is what a group of Docker tests shares: an engine, a repository
// of test images (one per version, each running the sample app as that
// version) and a network of its own. All of it is removed when the test
// that made it ends.
type fixture struct {
	cli     *client.Client
	repo    string // repository of the built images
	network string // a network no other test uses
}

// newFixture builds repo:<v> for each version (repo defaults to a unique
// local name).
func newFixture(t *testing.T, repo string, versions ...string) *fixture {
	t.Helper()
	cli := dockertest.Engine(t)
	id := randomID()
	if repo == "" {
		repo = "hotswap-test-" + id + "/web"
	}
	f := &fixture{cli: cli, repo: repo, network: "hotswap-test-" + id}
	dockertest.RemoveNetwork(t, cli, f.network) // runs after the containers are gone
	for _, v := range versions {
		dockertest.Image(t, cli, repo+":"+v, "--version", v)
	}
	return f
}

// runtime returns a Runtime for a service of its own on the fixture's
// images and network; edit adjusts its config. Its containers (instances
// and hooks) are removed when t ends, whatever the test did.
func (f *fixture) runtime(t *testing.T, edit func(*Config)) *Runtime {
	t.Helper()
	svc := "t" + randomID()
	cfg := Config{Service: svc, Owner: "hs-" + randomID() + randomID(), Image: f.repo, Network: f.network, Reach: ReachHost, StopGrace: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	dockertest.RemoveContainers(t, f.cli, LabelService, cfg.Service)
	dockertest.RemoveContainers(t, f.cli, LabelHook, cfg.Service)
	rt, err := New(context.Background(), f.cli, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return rt
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// testLogger sends the runtime's log to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// get fetches http://addr/path and returns status and trimmed body.
func get(ctx context.Context, addr, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := noKeepAlive.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, err = io.Copy(&sb, resp.Body)
	return resp.StatusCode, strings.TrimSpace(sb.String()), err
}

var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// waitServes polls addr until it answers want on "/" or ctx ends.
func waitServes(ctx context.Context, t *testing.T, addr, want string) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		code, body, err := get(ctx, addr, "/")
		if err == nil && code == 200 && body == want {
			return
		}
		last = body
		if err != nil {
			last = err.Error()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("%s never answered %q: %s", addr, want, last)
		}
	}
}
