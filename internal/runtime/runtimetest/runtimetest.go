// Package runtimetest is the conformance suite every runtime.Runtime must
// pass. The deploy engine treats a local process and a Docker container as
// interchangeable; this suite is what makes that true, by running the same
// observable checks (real instances of the sample app, real sockets) against
// each implementation.
//
// Use it from an implementation's own tests:
//
//	func TestConformance(t *testing.T) {
//		runtimetest.Run(t, runtimetest.Harness{
//			New:            func(t *testing.T) runtime.Runtime { ... },
//			MissingVersion: "v0-missing",
//			HookOK:         []string{...}, HookOKOutput: "...",
//			HookFail:       []string{"sampleapp", "--bogus"}, HookFailCode: 2,
//			HookFailOutput: "flag provided but not defined",
//			HookSlow:       []string{"sampleapp", "--no-listen"},
//		})
//	}
//
// The runtime returned by New must run the sample app (cmd/sampleapp) so
// that the version string alone selects its behaviour, and every version in
// Versions must be startable.
//
// Beyond the runtime.Runtime docs, the suite pins down what the engine
// relies on: Stop returns with Done closed and is a no-op when repeated or
// after a crash; Adopt of "" or of any string that never was an ID is
// ErrNotFound; Adopt of a stopped instance is ErrNotFound or an instance
// whose Done is closed; a failing hook's error contains "exit code N"; a
// hook whose context ends returns an error wrapping the context's error. Subtests run in parallel, each with its own
// runtime and a deadline of Harness.Timeout; nothing sleeps, everything
// polls against that deadline.
package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/runtime"
)

// Versions lists every version the suite starts. A harness must make each
// of them startable (a command path, an image tag…) before the suite runs.
// The sample app turns the words in them into behaviour: "v4-crash" exits
// with code 3 at boot.
var Versions = []string{"v1", "v2", "v4-crash"}

// Harness adapts one runtime implementation to the suite.
type Harness struct {
	// New returns a fresh runtime for a service of its own (a unique service
	// name, so that parallel subtests never share instances) that runs the
	// sample app as the version given to Start. It registers its own cleanup
	// with t.Cleanup. Required.
	New func(t *testing.T) runtime.Runtime

	// MissingVersion is a version whose artifact does not exist, so Prepare
	// must fail with runtime.ErrArtifactMissing. The error text must contain
	// it. Required.
	MissingVersion string

	// HookOK is an argv that RunHook (version "v1") runs to exit status 0,
	// writing HookOKOutput somewhere in its output. Required.
	HookOK       []string
	HookOKOutput string

	// HookFail is an argv that exits with HookFailCode (non-zero), writing
	// HookFailOutput; the sample app given an unknown flag exits 2 and
	// prints "flag provided but not defined". The error RunHook returns
	// must contain "exit code <HookFailCode>". Required.
	HookFail       []string
	HookFailCode   int
	HookFailOutput string

	// HookSlow is an argv that runs until it is killed (the sample app with
	// --no-listen). The suite cancels its context to prove ctx bounds
	// RunHook. Required.
	HookSlow []string

	// Lists says the runtime discovers instances on its own, so List must
	// include every live instance it started and omit removed ones. When
	// false, List must return nil, nil.
	Lists bool

	// Timeout bounds each subtest (its context deadline). Default 15s.
	Timeout time.Duration

	// Get performs an HTTP GET of path on an instance's Addr. Optional: the
	// default dials http://<addr><path> without keep-alives.
	Get func(ctx context.Context, addr, path string) (*http.Response, error)
}

// Run runs the whole suite against h as parallel subtests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	h.check(t)
	tests := []struct {
		name string
		fn   func(*testing.T, *suite)
	}{
		{"StartServes", testStartServes},
		{"TwoVersionsAtOnce", testTwoVersions},
		{"Stop", testStop},
		{"CrashAtBoot", testCrash},
		{"Adopt", testAdopt},
		{"AdoptGone", testAdoptGone},
		{"Prepare", testPrepare},
		{"StartMissing", testStartMissing},
		{"List", testList},
		{"RestartStoppedVersion", testRestartStopped},
		{"RunHook", testRunHook},
		{"RunHookContext", testRunHookContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), h.Timeout)
			defer cancel()
			tc.fn(t, &suite{h: h, rt: h.New(t), ctx: ctx})
		})
	}
}

func (h *Harness) check(t *testing.T) {
	t.Helper()
	switch {
	case h.New == nil:
		t.Fatal("runtimetest: Harness.New is required")
	case h.MissingVersion == "":
		t.Fatal("runtimetest: Harness.MissingVersion is required")
	case len(h.HookOK) == 0 || len(h.HookFail) == 0 || len(h.HookSlow) == 0:
		t.Fatal("runtimetest: Harness.HookOK, HookFail and HookSlow are required")
	case h.HookFailCode == 0:
		t.Fatal("runtimetest: Harness.HookFailCode must be non-zero")
	}
	if h.Timeout <= 0 {
		h.Timeout = 15 * time.Second
	}
	if h.Get == nil {
		h.Get = defaultGet
	}
}

var (
	clientOnce sync.Once
	client     *http.Client
)

// defaultGet uses one client without keep-alives, so that "the port stops
// answering" is observed on a fresh connection each time.
func defaultGet(ctx context.Context, addr, path string) (*http.Response, error) {
	clientOnce.Do(func() {
		client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	return client.Do(req)
}

// suite is one subtest's view: the harness, its own runtime and deadline.
type suite struct {
	h   Harness
	rt  runtime.Runtime
	ctx context.Context
}

// start starts version and registers its removal.
func (s *suite) start(t *testing.T, version string) runtime.Instance {
	t.Helper()
	inst, err := s.rt.Start(s.ctx, runtime.Spec{Version: version, ReleaseID: 7})
	if err != nil {
		t.Fatalf("Start(%s): %v", version, err)
	}
	if inst.Version() != version {
		t.Errorf("Start(%s).Version() = %q", version, inst.Version())
	}
	if inst.ID() == "" {
		t.Errorf("Start(%s).ID() is empty", version)
	}
	t.Cleanup(func() {
		// The subtest's context may be gone; give cleanup its own bound.
		ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
		defer cancel()
		if err := inst.Remove(ctx); err != nil {
			t.Errorf("cleanup: Remove(%s): %v", version, err)
		}
	})
	return inst
}

// body GETs path on addr and returns the trimmed body of a 200 answer.
func (s *suite) body(addr, path string) (string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	resp, err := s.h.Get(ctx, addr, path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b)), nil
}

// waitServes polls until GET / on inst answers its version, or fails the
// test with the last error and the instance's logs.
func (s *suite) waitServes(t *testing.T, inst runtime.Instance) {
	t.Helper()
	var last string
	ok := s.poll(func() bool {
		select {
		case <-inst.Done():
			last = "instance exited"
			return true
		default:
		}
		got, err := s.body(inst.Addr(), "/")
		switch {
		case err != nil:
			last = err.Error()
		case got != inst.Version():
			last = fmt.Sprintf("body %q, want %q", got, inst.Version())
		default:
			last = ""
			return true
		}
		return false
	})
	if !ok || last != "" {
		logs, _ := inst.Logs(context.Background(), 20)
		t.Fatalf("%s at %s never served its version: %s\nlogs:\n%s",
			inst.Version(), inst.Addr(), last, strings.Join(logs, "\n"))
	}
}

// waitSilent polls until addr no longer answers HTTP.
func (s *suite) waitSilent(t *testing.T, addr string) {
	t.Helper()
	if !s.poll(func() bool { _, err := s.body(addr, "/"); return err != nil }) {
		t.Fatalf("%s still answers after the instance stopped", addr)
	}
}

// waitDone waits for inst.Done within the subtest deadline.
func (s *suite) waitDone(t *testing.T, inst runtime.Instance, why string) {
	t.Helper()
	select {
	case <-inst.Done():
	case <-s.ctx.Done():
		t.Fatalf("%s: Done not closed before the deadline", why)
	}
}

// poll calls cond every 25ms until it is true (returns true) or the
// subtest deadline passes (returns false).
func (s *suite) poll(cond func() bool) bool {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-tick.C:
		case <-s.ctx.Done():
			return cond()
		}
	}
}

// logsContain polls until inst's logs contain want.
func (s *suite) logsContain(t *testing.T, inst runtime.Instance, want string) {
	t.Helper()
	var logs []string
	var err error
	ok := s.poll(func() bool {
		logs, err = inst.Logs(s.ctx, 50)
		return err == nil && strings.Contains(strings.Join(logs, "\n"), want)
	})
	if !ok {
		t.Fatalf("logs never contained %q (err %v):\n%s", want, err, strings.Join(logs, "\n"))
	}
}

// errorsIs fails the test unless errors.Is(err, target).
func errorsIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want errors.Is %v", what, err, target)
	}
}
