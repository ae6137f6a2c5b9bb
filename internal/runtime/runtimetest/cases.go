package runtimetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/runtime"
)

// testStartServes: a started version answers its own version on Addr, is
// running (Done open, Exit not ok) and its output reaches Logs.
func testStartServes(t *testing.T, s *suite) {
	inst := s.start(t, "v1")
	s.waitServes(t, inst)
	if runtime.Stopped(inst) {
		t.Fatal("Done closed while the instance serves")
	}
	if e, ok := inst.Exit(); ok {
		t.Fatalf("Exit() = %v, true while running", e)
	}
	s.logsContain(t, inst, "listening on")
	one, err := inst.Logs(s.ctx, 1)
	if err != nil {
		t.Fatalf("Logs(1): %v", err)
	}
	if len(one) != 1 {
		t.Fatalf("Logs(1) returned %d lines: %q", len(one), one)
	}
}

// testTwoVersions: two versions run side by side on distinct addresses,
// which is what a zero-downtime switch needs.
func testTwoVersions(t *testing.T, s *suite) {
	a := s.start(t, "v1")
	b := s.start(t, "v2")
	if a.Addr() == b.Addr() {
		t.Fatalf("v1 and v2 share the address %s", a.Addr())
	}
	if a.ID() == b.ID() {
		t.Fatalf("v1 and v2 share the ID %s", a.ID())
	}
	s.waitServes(t, a)
	s.waitServes(t, b)
}

// testStop: Stop returns with the instance gone, Done closed and a clean
// exit (the sample app exits 0 on the stop signal, so a non-zero code means
// it was killed instead); a second Stop is a no-op; Adopt no longer finds a
// running instance.
func testStop(t *testing.T, s *suite) {
	inst := s.start(t, "v1")
	s.waitServes(t, inst)
	if err := inst.Stop(s.ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !runtime.Stopped(inst) {
		t.Fatal("Stop returned but Done is not closed")
	}
	e, ok := inst.Exit()
	if !ok {
		t.Fatal("Exit() not ok after Stop")
	}
	if e.Code != 0 || e.Signal != "" {
		t.Errorf("Exit() = %v, want code 0: the sample app exits cleanly on the stop signal", e)
	}
	s.waitSilent(t, inst.Addr())
	if err := inst.Stop(s.ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	adopted, err := s.rt.Adopt(s.ctx, inst.ID())
	if err == nil && !runtime.Stopped(adopted) {
		t.Error("Adopt of a stopped instance returned one whose Done is open")
	}
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Adopt of a stopped instance: %v, want nil or ErrNotFound", err)
	}
}

// testCrash: a version that exits at boot closes Done on its own with the
// app's exit code, and its last words are in Logs for the user to see.
func testCrash(t *testing.T, s *suite) {
	inst := s.start(t, "v4-crash")
	s.waitDone(t, inst, "crashing version")
	e, ok := inst.Exit()
	if !ok {
		t.Fatal("Exit() not ok after Done")
	}
	if e.Code != 3 {
		t.Errorf("Exit() = %v, want code 3", e)
	}
	if e.At.IsZero() {
		t.Error("Exit().At is zero")
	}
	s.logsContain(t, inst, "simulated crash")
	if err := inst.Stop(s.ctx); err != nil {
		t.Errorf("Stop of an exited instance: %v", err)
	}
}

// testAdopt: Adopt(ID) of a running instance gives a handle with the same
// identity, and stopping through it stops the real thing.
func testAdopt(t *testing.T, s *suite) {
	inst := s.start(t, "v1")
	s.waitServes(t, inst)
	a, err := s.rt.Adopt(s.ctx, inst.ID())
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if a.ID() != inst.ID() || a.Version() != inst.Version() || a.Addr() != inst.Addr() {
		t.Fatalf("adopted (%s, %s, %s), started (%s, %s, %s)",
			a.ID(), a.Version(), a.Addr(), inst.ID(), inst.Version(), inst.Addr())
	}
	if runtime.Stopped(a) {
		t.Fatal("adopted running instance has Done closed")
	}
	s.logsContain(t, a, "listening on")
	if err := a.Stop(s.ctx); err != nil {
		t.Fatalf("Stop through the adopted handle: %v", err)
	}
	if !runtime.Stopped(a) {
		t.Fatal("adopted Stop returned but Done is not closed")
	}
	if _, ok := a.Exit(); !ok {
		t.Fatal("adopted Exit() not ok after Stop")
	}
	s.waitDone(t, inst, "original handle after adopted Stop")
	s.waitSilent(t, inst.Addr())
}

// testAdoptGone: IDs of removed instances, and IDs that never existed, are
// ErrNotFound so the engine can tell "gone" from "broken".
func testAdoptGone(t *testing.T, s *suite) {
	inst := s.start(t, "v1")
	s.waitServes(t, inst)
	if err := inst.Remove(s.ctx); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if !runtime.Stopped(inst) {
		t.Fatal("Remove returned but Done is not closed")
	}
	s.waitSilent(t, inst.Addr())
	for _, id := range []string{inst.ID(), "no-such-instance", ""} {
		_, err := s.rt.Adopt(s.ctx, id)
		errorsIs(t, fmt.Sprintf("Adopt(%q)", id), err, runtime.ErrNotFound)
	}
}

// testPrepare: a missing artifact is reported before anything changes, with
// the version in the message; a present one yields a reference.
func testPrepare(t *testing.T, s *suite) {
	var out bytes.Buffer
	_, err := s.rt.Prepare(s.ctx, s.h.MissingVersion, &out)
	errorsIs(t, "Prepare(missing)", err, runtime.ErrArtifactMissing)
	if !strings.Contains(err.Error(), s.h.MissingVersion) {
		t.Errorf("Prepare(missing) error %q does not name %q", err, s.h.MissingVersion)
	}
	art, err := s.rt.Prepare(s.ctx, "v1", &out)
	if err != nil {
		t.Fatalf("Prepare(v1): %v", err)
	}
	if art.Ref == "" {
		t.Error("Prepare(v1) returned an empty Artifact.Ref")
	}
}

// testStartMissing: starting a version that cannot start fails and leaves
// no instance behind (visible through List where the runtime discovers).
func testStartMissing(t *testing.T, s *suite) {
	before, err := s.rt.List(s.ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	inst, err := s.rt.Start(s.ctx, runtime.Spec{Version: s.h.MissingVersion})
	if err == nil {
		_ = inst.Remove(context.Background())
		t.Fatalf("Start(%s) succeeded", s.h.MissingVersion)
	}
	after, err := s.rt.List(s.ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(after) != len(before) {
		t.Errorf("failed Start left instances behind: before %q, after %q", before, after)
	}
}

// testList: discovering runtimes list what they started until it is
// removed; the others say nil.
func testList(t *testing.T, s *suite) {
	inst := s.start(t, "v1")
	ids, err := s.rt.List(s.ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !s.h.Lists {
		if ids != nil {
			t.Fatalf("List = %q, want nil for a runtime that does not discover", ids)
		}
		return
	}
	if !slices.Contains(ids, inst.ID()) {
		t.Fatalf("List = %q, missing started %s", ids, inst.ID())
	}
	if err := inst.Remove(s.ctx); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	ids, err = s.rt.List(s.ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if slices.Contains(ids, inst.ID()) {
		t.Fatalf("List = %q still has removed %s", ids, inst.ID())
	}
}

// testRestartStopped: a rollback starts a version that was stopped earlier.
func testRestartStopped(t *testing.T, s *suite) {
	first := s.start(t, "v1")
	s.waitServes(t, first)
	if err := first.Stop(s.ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	again := s.start(t, "v1")
	s.waitServes(t, again)
	if runtime.Stopped(again) {
		t.Fatal("restarted instance has Done closed")
	}
}

// testRunHook: a hook's output is streamed to the writer; a failing hook's
// error names its exit code.
func testRunHook(t *testing.T, s *suite) {
	var out bytes.Buffer
	if err := s.rt.RunHook(s.ctx, "v1", s.h.HookOK, &out); err != nil {
		t.Fatalf("RunHook(%q): %v\noutput:\n%s", s.h.HookOK, err, out.String())
	}
	if !strings.Contains(out.String(), s.h.HookOKOutput) {
		t.Errorf("RunHook(%q) output %q lacks %q", s.h.HookOK, out.String(), s.h.HookOKOutput)
	}
	out.Reset()
	err := s.rt.RunHook(s.ctx, "v1", s.h.HookFail, &out)
	if err == nil {
		t.Fatalf("RunHook(%q) succeeded", s.h.HookFail)
	}
	if want := fmt.Sprintf("exit code %d", s.h.HookFailCode); !strings.Contains(err.Error(), want) {
		t.Errorf("RunHook(%q) error %q does not say %q", s.h.HookFail, err, want)
	}
	if !strings.Contains(out.String(), s.h.HookFailOutput) {
		t.Errorf("RunHook(%q) output %q lacks %q", s.h.HookFail, out.String(), s.h.HookFailOutput)
	}
}

// testRunHookContext: the context bounds a hook that would run forever.
func testRunHookContext(t *testing.T, s *suite) {
	const budget = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(s.ctx, budget)
	defer cancel()
	deadline, _ := ctx.Deadline()
	begin := time.Now()
	err := s.rt.RunHook(ctx, "v1", s.h.HookSlow, io.Discard)
	took := time.Since(begin)
	errorsIs(t, "RunHook past its deadline", err, context.DeadlineExceeded)
	// Against the context's own deadline: it was set before begin, so a
	// hook ended right at it may take a little less than budget since begin.
	if early := deadline.Sub(time.Now()); early > 0 {
		t.Errorf("RunHook returned after %v, %v before its %v deadline", took, early, budget)
	}
	if s.ctx.Err() != nil {
		t.Fatalf("RunHook outlived the subtest deadline (took %v)", took)
	}
}
