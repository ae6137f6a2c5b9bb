package process

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	hsruntime "github.com/hotswap/hotswap/internal/runtime"
)

// poll calls cond every 20ms until it holds or ctx ends; it reports
// whether cond held.
func poll(ctx context.Context, cond func() bool) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return cond()
		}
	}
	return true
}

// logLine polls inst's logs until a line matches re and returns the match.
func logLine(t *testing.T, ctx context.Context, inst hsruntime.Instance, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	var lines []string
	if !poll(ctx, func() bool {
		lines, _ = inst.Logs(ctx, 50)
		m = re.FindStringSubmatch(strings.Join(lines, "\n"))
		return m != nil
	}) {
		t.Fatalf("logs never matched %s:\n%s", re, strings.Join(lines, "\n"))
	}
	return m
}

// gone reports whether pid no longer runs (absent, or a zombie nobody has
// reaped yet).
func gone(pid int) bool {
	st, err := readStat(pid)
	return err != nil || st.State == 'Z' || st.State == 'X'
}

// TestStopEscalation runs an app that ignores SIGTERM and has a child in
// its process group (which ignores it too): Stop must kill the whole group
// once the grace or the context runs out, and honour a custom stop signal.
func TestStopEscalation(t *testing.T) {
	tests := []struct {
		name       string
		signal     syscall.Signal
		grace      time.Duration
		stopWithin time.Duration // Stop's context
		wantErr    error
		wantSignal string
		minTook    time.Duration
		maxTook    time.Duration
	}{
		{"grace runs out", 0, 300 * time.Millisecond, 10 * time.Second, nil, "SIGKILL", 300 * time.Millisecond, 5 * time.Second},
		{"context ends first", 0, time.Minute, 300 * time.Millisecond, context.DeadlineExceeded, "SIGKILL", 300 * time.Millisecond, 5 * time.Second},
		{"custom stop signal", syscall.SIGINT, time.Minute, 10 * time.Second, nil, "SIGINT", 0, 5 * time.Second},
	}
	readyRE := regexp.MustCompile(`ready child=(\d+)`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			root := t.TempDir()
			rt := newRuntime(t, Config{
				Service:    "stubborn",
				Command:    []string{testBin, helperArg, "ignore-term"},
				LogDir:     filepath.Join(root, "logs"),
				StopSignal: tc.signal,
				StopGrace:  tc.grace,
			})
			inst, err := rt.Start(ctx, hsruntime.Spec{Version: "v1"})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = inst.Remove(ctx) // kills the group at once if still running
			})
			child, _ := strconv.Atoi(logLine(t, ctx, inst, readyRE)[1])
			t.Cleanup(func() {
				if !gone(child) {
					_ = syscall.Kill(child, syscall.SIGKILL)
				}
			})

			stopCtx, stopCancel := context.WithTimeout(ctx, tc.stopWithin)
			defer stopCancel()
			begin := time.Now()
			err = inst.Stop(stopCtx)
			took := time.Since(begin)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Stop = %v, want %v", err, tc.wantErr)
			}
			if took < tc.minTook || took > tc.maxTook {
				t.Errorf("Stop took %v, want between %v and %v", took, tc.minTook, tc.maxTook)
			}
			select {
			case <-inst.Done():
			case <-ctx.Done():
				t.Fatal("Done never closed after Stop")
			}
			if e, _ := inst.Exit(); e.Signal != tc.wantSignal || e.Code != -1 {
				t.Errorf("Exit() = %v, want signal %s", e, tc.wantSignal)
			}
			if !poll(ctx, func() bool { return gone(child) }) {
				t.Errorf("child %d in the app's process group survived Stop", child)
			}
		})
	}
}

// TestStopWaitsForGroup: the app exits at once on the stop signal but a
// child in its group ignores it; Stop must not return with that child
// running, but kill it once the grace runs out.
func TestStopWaitsForGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	const grace = 300 * time.Millisecond
	rt := newRuntime(t, Config{
		Service:   "leader-quits",
		Command:   []string{testBin, helperArg, "ignore-term", "leader-quits"},
		LogDir:    filepath.Join(t.TempDir(), "logs"),
		StopGrace: grace,
	})
	inst, err := rt.Start(ctx, hsruntime.Spec{Version: "v1"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = inst.Remove(context.Background()) })
	child, _ := strconv.Atoi(logLine(t, ctx, inst, regexp.MustCompile(`ready child=(\d+)`))[1])
	t.Cleanup(func() {
		if !gone(child) {
			_ = syscall.Kill(child, syscall.SIGKILL)
		}
	})
	begin := time.Now()
	if err := inst.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(begin); took < grace {
		t.Errorf("Stop returned after %v, before the grace, with its group still running", took)
	}
	if e, _ := inst.Exit(); e.Signal != "SIGTERM" {
		t.Errorf("Exit() = %v, want the leader ended by SIGTERM", e)
	}
	if !poll(ctx, func() bool { return gone(child) }) {
		t.Errorf("child %d survived Stop", child)
	}
}
