package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/loadgen"

	"github.com/hotswap/hotswap/internal/sampleapp/sampletest"
)

// sampleBin is the sample app and hotswapBin the hotswap binary, built once
// for every test in this package.
var sampleBin, hotswapBin string

func TestMain(m *testing.M) {
	sampletest.Main(m, func(bins ...string) { sampleBin, hotswapBin = bins[0], bins[1] }, sampletest.SampleApp, sampletest.Hotswap)
}

// webService is the default test service: the sample app as a local process,
// with timings short enough for tests and long enough to be realistic.
const webService = `  - name: web
    hosts: [web.test]
    runtime: process
    process:
      command: [%q, --port, "{port}", --version, "{version}"]
    health:
      path: /health
      interval: 50ms
      timeout: 1s
      healthy_threshold: 2
      deadline: 3s
    drain_timeout: 8s
    stop_grace: 2s
    warm_for: 1m
`

// testConfig is the web service plus extra (more services, indented as
// list items), in a daemon on loopback port 0 with its state in dir.
func testConfig(t testing.TB, dir string, extra string) *config.Config {
	t.Helper()
	return servicesConfig(t, dir, fmt.Sprintf(webService, sampleBin)+extra, "")
}

// servicesConfig is a daemon config with exactly the given services block
// and top-level extra YAML.
func servicesConfig(t testing.TB, dir, services, top string) *config.Config {
	t.Helper()
	y := fmt.Sprintf(`state_dir: %q
proxy:
  listen: 127.0.0.1:0
control:
  socket: %q
%s
services:
%s`, dir, filepath.Join(dir, "hs.sock"), top, services)
	cfg, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// writeConfigFile writes dir/hotswap.yaml: a daemon on loopback port 0 with
// its state and control socket in dir, and the given services block. It
// returns the file's path and the socket's.
func writeConfigFile(t testing.TB, dir, services string) (path, sock string) {
	t.Helper()
	path, sock = filepath.Join(dir, "hotswap.yaml"), filepath.Join(dir, "hs.sock")
	y := fmt.Sprintf("state_dir: %q\nproxy: {listen: 127.0.0.1:0}\ncontrol: {socket: %q}\nservices:\n%s", dir, sock, services)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, sock
}

// startDaemon runs a real daemon in dir and closes it at the end of the test.
func startDaemon(t testing.TB, cfg *config.Config, stopOnClose bool) *Daemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := New(ctx, cfg, Options{Log: log, StopOnClose: stopOnClose, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("new daemon: %v", err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	closed := false
	var mu sync.Mutex
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if !closed {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := d.Close(cctx); err != nil {
				t.Errorf("close daemon: %v", err)
			}
		}
	})
	return d
}

// rootConfig is servicesConfig with extra top-level YAML (notify, webhooks).
func rootConfig(t testing.TB, dir, services, root string) *config.Config {
	t.Helper()
	y := fmt.Sprintf("state_dir: %q\nproxy: {listen: 127.0.0.1:0}\ncontrol: {socket: %q}\n%sservices:\n%s",
		dir, filepath.Join(dir, "hs.sock"), root, services)
	cfg, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// daemonClient starts a daemon that stops its apps on close, with a client
// on its control socket.
func daemonClient(t testing.TB, cfg *config.Config) (*Daemon, *api.Client) {
	t.Helper()
	d := startDaemon(t, cfg, true)
	return d, api.DialSocket(d.SocketPath(), "test")
}

// timeline records, per version, the windows in which it may have been live
// (or draining, which is what "may have served" means), as observed from
// outside: a deploy call that starts at t0 and ends at t1 switched somewhere
// in between, so the old version is allowed until t1 and the new from t0.
type timeline struct {
	mu      sync.Mutex
	windows map[string][][2]time.Time // version -> [from, to]; zero "to" = still open
	live    string
	seen    []observation
	// replaced: version -> when the record says it stopped being live
	// (the release that replaced it went live), one entry per time.
	replaced map[string][]time.Time
	cuts     []observation // streams the proxy ended early; recv = the cut
	drain    time.Duration
}

func newTimeline() *timeline {
	return &timeline{windows: map[string][][2]time.Time{}, replaced: map[string][]time.Time{}}
}

// switched records that live moved from the current version to v during
// [t0, t1]; at is when the new release went live by its record (the
// cutover records, then swaps: the old version's drain starts after at).
func (tl *timeline) switched(v string, t0, t1, at time.Time, drain time.Duration) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.drain = drain
	if tl.live != "" {
		tl.replaced[tl.live] = append(tl.replaced[tl.live], at)
		ws := tl.windows[tl.live]
		// The old version may still answer requests it accepted before the
		// switch for up to the drain timeout.
		ws[len(ws)-1][1] = t1.Add(drain)
	}
	tl.windows[v] = append(tl.windows[v], [2]time.Time{t0, {}})
	tl.live = v
}

// allowed reports whether a response from v, to a request in flight during
// [sent, recv], is consistent with what was live or draining then.
func (tl *timeline) allowed(v string, sent, recv time.Time) bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, w := range tl.windows[v] {
		if w[0].After(recv) {
			continue
		}
		if !w[1].IsZero() && w[1].Before(sent) {
			continue
		}
		return true
	}
	return false
}

// observation is one response the load generator saw.
type observation struct {
	version    string
	sent, recv time.Time
}

// observe records a response to judge after the run, against the complete
// timeline (a new version's window is only known once its deploy returns).
func (tl *timeline) observe(v string, sent, recv time.Time) bool {
	tl.mu.Lock()
	tl.seen = append(tl.seen, observation{v, sent, recv})
	tl.mu.Unlock()
	return true
}

// cut records a stream the proxy ended before its last event, to judge
// after the run (loadgen.Options.Cut).
func (tl *timeline) cut(v string, sent, at time.Time) bool {
	tl.mu.Lock()
	tl.cuts = append(tl.cuts, observation{v, sent, at})
	tl.mu.Unlock()
	return true
}

// earlyCuts returns the streams cut before their version's drain timeout
// had run out: the proxy promises a replaced version's streams that long.
// A stream still running when the drain timeout ends is cut by design.
func (tl *timeline) earlyCuts() []observation {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var bad []observation
	for _, c := range tl.cuts {
		ok := false
		for _, r := range tl.replaced[c.version] {
			if !r.Before(c.sent) && !c.recv.Before(r.Add(tl.drain)) {
				ok = true // replaced while the stream ran, cut after the drain timeout
			}
		}
		if !ok {
			bad = append(bad, c)
		}
	}
	return bad
}

// checkCuts fails the test for every stream cut before its version's drain
// timeout ran out. A stream (100 events 50 ms apart: 5 s unloaded, against
// the tests' 8 s drain timeout) can outlive the drain on a loaded machine;
// then it is cut by design, and that is no failure.
func (tl *timeline) checkCuts(t testing.TB, res loadgen.Result) {
	t.Helper()
	t.Logf("%d streams outlived their version's drain timeout and were cut by design", res.Cuts)
	if early := tl.earlyCuts(); len(early) != 0 {
		t.Errorf("%d streams were cut before their version's drain timeout ran out, e.g. %+v\ntimeline:\n%s", len(early), early[0], tl)
	}
}

// judge returns the responses that came from a version that was neither
// live nor draining while they were in flight.
func (tl *timeline) judge() []observation {
	tl.mu.Lock()
	seen := tl.seen
	tl.mu.Unlock()
	var bad []observation
	for _, o := range seen {
		if !tl.allowed(o.version, o.sent, o.recv) {
			bad = append(bad, o)
		}
	}
	return bad
}

func (tl *timeline) String() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var b strings.Builder
	for v, ws := range tl.windows {
		fmt.Fprintf(&b, "%s: %v\n", v, ws)
	}
	return b.String()
}

// writeServeConfig writes a config file for `hotswap serve` with state in
// dir and the given services block, and returns its path and the control
// socket.
func writeServeConfig(t testing.TB, dir, services string) (cfgPath, sock string) {
	t.Helper()
	cfgPath, sock = filepath.Join(dir, "hotswap.yaml"), filepath.Join(dir, "hs.sock")
	yaml := fmt.Sprintf("state_dir: %q\nproxy: {listen: 127.0.0.1:0}\ncontrol: {socket: %q}\nservices:\n%s", dir, sock, services)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, sock
}
