package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/health"
	"github.com/hotswap/hotswap/internal/proxy"
	"github.com/hotswap/hotswap/internal/release"
	rt "github.com/hotswap/hotswap/internal/runtime"
	"github.com/hotswap/hotswap/internal/runtime/process"
	"github.com/hotswap/hotswap/internal/runtime/runtimetest"
	"github.com/hotswap/hotswap/internal/sampleapp/sampletest"
)

// sampleBin is the sample app, built once for this package's tests.
var sampleBin string

func TestMain(m *testing.M) {
	sampletest.Main(m, func(bins ...string) { sampleBin = bins[0] }, sampletest.SampleApp)
}

// scripted is the real process runtime running the sample app, with a
// script: a test can run code at each Start (block it, fail it, kill
// something) to put a failure at an exact point of an engine operation.
type scripted struct {
	*process.Runtime
	mu      sync.Mutex // guards onStart, starts
	onStart func(spec rt.Spec) error
	starts  int
}

func newScripted(t *testing.T, service string) *scripted {
	t.Helper()
	root := t.TempDir()
	// root/releases/<version>/app, as a real process service is laid
	// out: a version without its directory cannot be prepared.
	for _, v := range append([]string{"v1", "v2", "v3", "v4", "v2-errors", "v2-unhealthy"}, runtimetest.Versions...) {
		d := filepath.Join(root, "releases", v)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(sampleBin, filepath.Join(d, "app")); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	r, err := process.New(process.Config{
		Service:   service,
		Command:   []string{"./app", "--port", "{port}", "--host", "{host}", "--version", "{version}"},
		Dir:       filepath.Join(root, "releases", "{version}"),
		LogDir:    filepath.Join(root, "logs"),
		StopGrace: 2 * time.Second,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &scripted{Runtime: r}
}

func (s *scripted) script(fn func(spec rt.Spec) error) {
	s.mu.Lock()
	s.onStart = fn
	s.mu.Unlock()
}

func (s *scripted) Start(ctx context.Context, spec rt.Spec) (rt.Instance, error) {
	s.mu.Lock()
	fn := s.onStart
	s.starts++
	s.mu.Unlock()
	if fn != nil {
		if err := fn(spec); err != nil {
			return nil, err
		}
	}
	return s.Runtime.Start(ctx, spec)
}

// TestScriptedRuntimeConformance: the runtime the engine tests drive is a
// runtime like the others.
func TestScriptedRuntimeConformance(t *testing.T) {
	runtimetest.Run(t, runtimetest.Harness{
		New: func(t *testing.T) rt.Runtime {
			return newScripted(t, "conf-"+strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
		},
		Lists:          true, // the process runtime finds its instances by their records
		MissingVersion: "v0-missing",
		HookOK:         []string{"/bin/echo", "hook ok"},
		HookOKOutput:   "hook ok",
		HookFail:       []string{sampleBin, "--bogus"},
		HookFailCode:   2,
		HookFailOutput: "flag provided but not defined",
		HookSlow:       []string{sampleBin, "--no-listen"},
		Timeout:        15 * time.Second,
	})
}

// faultyStore is the real store with writes that fail on cue: fail names a
// method and which of its calls (1-based, counted from arming) fails.
type faultyStore struct {
	*release.Store
	mu    sync.Mutex // guards the fields below
	op    string
	nth   int
	calls map[string]int
	hook  map[string]func() // runs before a named write
}

var errDiskFull = errors.New("disk full (injected)")

func (f *faultyStore) arm(op string, nth int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.op, f.nth, f.calls = op, nth, map[string]int{}
}

func (f *faultyStore) onWrite(op string, fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hook == nil {
		f.hook = map[string]func(){}
	}
	f.hook[op] = fn
}

func (f *faultyStore) check(op string) error {
	f.mu.Lock()
	h := f.hook[op]
	var err error
	if f.calls != nil {
		f.calls[op]++
		if op == f.op && f.calls[op] == f.nth {
			err = fmt.Errorf("%s: %w", op, errDiskFull)
		}
	}
	f.mu.Unlock()
	if h != nil {
		h()
	}
	return err
}

func (f *faultyStore) RecordSwitch(ctx context.Context, sw release.Switch) (int64, error) {
	if err := f.check("RecordSwitch"); err != nil {
		return 0, err
	}
	return f.Store.RecordSwitch(ctx, sw)
}

func (f *faultyStore) UpdateRelease(ctx context.Context, id int64, fn func(*release.Release) error) error {
	if err := f.check("UpdateRelease"); err != nil {
		return err
	}
	return f.Store.UpdateRelease(ctx, id, fn)
}

func (f *faultyStore) AppendEvent(ctx context.Context, ev release.Event) (int64, error) {
	if err := f.check("AppendEvent"); err != nil {
		return 0, err
	}
	return f.Store.AppendEvent(ctx, ev)
}

func (f *faultyStore) CreateRelease(ctx context.Context, r *release.Release) error {
	if err := f.check("CreateRelease"); err != nil {
		return err
	}
	return f.Store.CreateRelease(ctx, r)
}

// rig is one service on a real store, a real proxy served over loopback
// and the scripted runtime.
type rig struct {
	t     *testing.T
	dir   string
	store *faultyStore
	proxy *proxy.Proxy
	srv   *httptest.Server
	rt    *scripted
	spec  ServiceSpec
	e     *Engine
}

// testHealth is quick enough for tests, realistic in shape.
var testHealth = health.Check{Path: "/health", Interval: 20 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 2, Deadline: 5 * time.Second}

func newRig(t *testing.T, name string, edit func(*ServiceSpec)) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir()}
	st, err := release.Open(context.Background(), filepath.Join(r.dir, "hotswap.db"))
	if err != nil {
		t.Fatal(err)
	}
	r.store = &faultyStore{Store: st}
	r.rt = newScripted(t, name)
	r.spec = ServiceSpec{Name: name, Hosts: []string{name + ".test"}, Runtime: r.rt, Health: testHealth,
		DrainTimeout: 5 * time.Second, WarmFor: time.Minute}
	if edit != nil {
		edit(&r.spec)
	}
	r.start()
	t.Cleanup(func() {
		r.stop(true)
		st.Close()
	})
	return r
}

// start builds an engine and a proxy on the rig's store, recovers and serves.
func (r *rig) start() {
	r.t.Helper()
	r.proxy = proxy.New(proxy.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	e, err := New(Options{Store: r.store, Proxy: r.proxy, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}, []ServiceSpec{r.spec})
	if err != nil {
		r.t.Fatal(err)
	}
	r.e = e
	if err := e.Recover(context.Background()); err != nil {
		r.t.Fatalf("recover: %v", err)
	}
	r.srv = httptest.NewServer(r.proxy)
}

// stop closes the engine (stopping every instance when all) and the proxy's server.
func (r *rig) stop(all bool) {
	if r.e == nil {
		return
	}
	r.e.opts.StopOnClose = all
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.e.Close(ctx); err != nil {
		r.t.Errorf("close engine: %v", err)
	}
	r.srv.Close()
	r.e = nil
}

// serving is the version the proxy answers with ("" and the status when
// nothing serves).
func (r *rig) serving() (string, int) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+"/", nil)
	req.Host = r.spec.Name + ".test"
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatalf("GET through the proxy: %v", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.Header.Get("X-Version"), resp.StatusCode
}

// submit asks for a deploy or rollback and fails the test if it is refused.
func (r *rig) submit(kind release.Kind, version string, mod ...func(*Request)) *release.Release {
	r.t.Helper()
	req := Request{Service: r.spec.Name, Version: version, Kind: kind, Source: release.Source{Kind: release.SourceCLI, Actor: "tester"}}
	for _, m := range mod {
		m(&req)
	}
	rel, err := r.e.Submit(context.Background(), req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", kind, version, err)
	}
	return rel
}

// wait follows a release until it settled and its deployment let go; a
// hang fails the test instead of blocking it.
func (r *rig) wait(id int64) *release.Release {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rel, err := r.e.Wait(ctx, id)
	if err != nil {
		r.t.Fatalf("release %d did not settle: %v", id, err)
	}
	for {
		ch := r.e.Changed()
		if !r.e.Running(id) {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			r.t.Fatalf("release %d: deployment still running", id)
		}
	}
	rel, err = r.store.GetRelease(ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	return rel
}

// deploy deploys version and requires the release to end in want.
func (r *rig) deploy(version string, want release.State) *release.Release {
	r.t.Helper()
	rel := r.wait(r.submit(KindDeploy, version).ID)
	if rel.State != want {
		r.t.Fatalf("deploy %s: %s (%s), want %s", version, rel.State, rel.Error, want)
	}
	return rel
}

// agree checks the invariant: the store's live release, the engine's live
// slot and what the proxy answers name the same version (want).
func (r *rig) agree(want string) {
	r.t.Helper()
	live, err := r.store.Live(context.Background(), r.spec.Name)
	recorded := ""
	if err == nil {
		recorded = live.Version
	} else if !errors.Is(err, release.ErrNotFound) {
		r.t.Fatal(err)
	}
	s := r.e.services[r.spec.Name]
	s.mu.Lock()
	engine := ""
	if s.live != nil {
		engine = s.live.version
		if live != nil && (s.live.rel != live.ID || s.live.inst.ID() != live.InstanceID) {
			r.t.Errorf("engine's live slot is release %d instance %s; the record says release %d instance %s", s.live.rel, s.live.inst.ID(), live.ID, live.InstanceID)
		}
	}
	s.mu.Unlock()
	served, code := r.serving()
	if recorded != want || engine != want || served != want {
		r.t.Fatalf("record %q, engine %q, proxy %q (HTTP %d); want all %q", recorded, engine, served, code, want)
	}
}

// events returns the messages of a release's steps, one per line.
func (r *rig) events(id int64) string {
	r.t.Helper()
	evs, err := r.store.Events(context.Background(), id, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s: %s\n", e.Step, e.Message)
	}
	return b.String()
}
