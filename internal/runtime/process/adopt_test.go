package process

import (
	"context"
	"errors"
	"net"
	"regexp"
	"syscall"
	"testing"
	"time"

	hsruntime "github.com/hotswap/hotswap/internal/runtime"
)

// startListening starts version of the sample app on rt and waits until it
// accepts connections.
func startListening(t *testing.T, ctx context.Context, rt *Runtime, version string) *instance {
	t.Helper()
	inst, err := rt.Start(ctx, hsruntime.Spec{Version: version, ReleaseID: 3})
	if err != nil {
		t.Fatalf("Start(%s): %v", version, err)
	}
	t.Cleanup(func() { _ = inst.Remove(context.Background()) })
	logLine(t, ctx, inst, regexp.MustCompile(`listening on`))
	return inst.(*instance)
}

func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// TestAdoptAfterRestart: a new Runtime value (as after a daemon restart)
// with the same config finds a running process from its ID alone, reads its
// logs, notices when it ends and can stop it.
func TestAdoptAfterRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	root := t.TempDir()
	releaseDir(t, root, "v1", "v2")
	cfg := sampleConfig(t, root)
	before := newRuntime(t, cfg)
	stopped := startListening(t, ctx, before, "v1")
	killed := startListening(t, ctx, before, "v2")

	after := newRuntime(t, cfg)
	for _, orig := range []*instance{stopped, killed} {
		got, err := after.Adopt(ctx, orig.ID())
		if err != nil {
			t.Fatalf("Adopt(%s): %v", orig.Version(), err)
		}
		a := got.(*instance)
		if a == orig || a.child {
			t.Fatal("the new Runtime returned the old one's child handle")
		}
		if a.ID() != orig.ID() || a.Version() != orig.Version() || a.Addr() != orig.Addr() {
			t.Fatalf("adopted %s %s %s, started %s %s %s", a.ID(), a.Version(), a.Addr(), orig.ID(), orig.Version(), orig.Addr())
		}
		logLine(t, ctx, a, regexp.MustCompile(`listening on `+regexp.QuoteMeta(orig.Addr())))
		if _, ok := a.Exit(); ok || isClosed(a.Done()) {
			t.Fatal("adopted running process reported as ended")
		}
		switch orig {
		case stopped:
			if err := a.Stop(ctx); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if !isClosed(a.Done()) {
				t.Fatal("Stop returned before Done closed")
			}
		case killed:
			// Ended by someone else: the /proc watcher must notice.
			if err := syscall.Kill(orig.ident.Pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			select {
			case <-a.Done():
			case <-ctx.Done():
				t.Fatal("adopted instance's Done never closed after the process was killed")
			}
		}
		if e, ok := a.Exit(); !ok || e.Code != -1 {
			t.Errorf("adopted Exit() = %v, %v; want unknown code -1", e, ok)
		}
		select {
		case <-orig.Done():
		case <-ctx.Done():
			t.Fatal("the original handle's Done never closed")
		}
		if answers(orig.Addr()) {
			t.Errorf("%s still answers", orig.Addr())
		}
		if _, err := after.Adopt(ctx, orig.ID()); !errors.Is(err, hsruntime.ErrNotFound) {
			t.Errorf("Adopt of an ended process: %v, want ErrNotFound", err)
		}
	}
}

// TestAdoptRejects: IDs that do not name a live process of this service are
// ErrNotFound; in particular a pid that was reused by another process (a
// different start time, or another boot) is never adopted.
func TestAdoptRejects(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	root := t.TempDir()
	releaseDir(t, root, "v1")
	cfg := sampleConfig(t, root)
	rt := newRuntime(t, cfg)
	inst := startListening(t, ctx, rt, "v1")
	fresh := newRuntime(t, cfg) // no children: only the ID speaks

	forged := func(change func(*identity)) string {
		id := inst.ident
		change(&id)
		return id.encode()
	}
	if _, err := fresh.Adopt(ctx, forged(func(*identity) {})); err != nil {
		t.Fatalf("control: Adopt of the genuine ID: %v", err)
	}
	tests := []struct{ name, id string }{
		{"reused pid: other start time", forged(func(id *identity) { id.Start++ })},
		{"reused pid: other boot", forged(func(id *identity) { id.Boot = "00000000-0000-0000-0000-000000000000" })},
		{"no such pid", forged(func(id *identity) { id.Pid = 1 << 30 })},
		{"other service", forged(func(id *identity) { id.Service = "other" })},
		{"not base64", idPrefix + "!!!"},
		{"not json", idPrefix + "bm90IGpzb24"},
		{"empty identity", identity{}.encode()},
		{"docker id", "3f4e8a9c1b2d"},
		{"empty", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fresh.Adopt(ctx, tc.id)
			if !errors.Is(err, hsruntime.ErrNotFound) {
				t.Fatalf("Adopt(%q) = %v, want ErrNotFound", tc.id, err)
			}
		})
	}
	if isClosed(inst.Done()) {
		t.Fatal("the genuine process died during the test")
	}
}

// TestAdoptSameRuntime: within one Runtime value, Adopt returns the child
// itself, whose exit status is known.
func TestAdoptSameRuntime(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	root := t.TempDir()
	releaseDir(t, root, "v1")
	rt := newRuntime(t, sampleConfig(t, root))
	inst := startListening(t, ctx, rt, "v1")
	got, err := rt.Adopt(ctx, inst.ID())
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if got != hsruntime.Instance(inst) {
		t.Fatal("Adopt of a running child returned another handle")
	}
}
