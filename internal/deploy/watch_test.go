package deploy

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/release"
)

// hang freezes an instance's process without ending it (SIGSTOP), as a
// deadlocked app would be, and kills it when the test ends.
func hang(t *testing.T, sl *slot) {
	t.Helper()
	resp, err := http.Get("http://" + sl.inst.Addr() + "/pid")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil { // the sample app this test started
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
}

// TestHungLiveIsReplaced: a live app that stops answering without exiting
// (defect 4: nothing noticed) fails HealthyThreshold background checks and
// is replaced like a crashed one, with an event, within interval ×
// threshold (each check bounded by its timeout) plus the time a new
// instance has to become healthy. A hung warm instance is reported by
// status from the watcher's verdict.
func TestHungLiveIsReplaced(t *testing.T) {
	r := newRig(t, "hung", func(sp *ServiceSpec) { sp.Health.Timeout = 300 * time.Millisecond })
	r.deploy("v1", release.Live)
	r.deploy("v2", release.Live)

	w := r.warmSlot()
	hang(t, w)
	live := r.liveSlot()
	hang(t, live)
	c := r.spec.Health
	bound := time.Duration(c.HealthyThreshold)*(c.Interval+c.Timeout) + c.Deadline + 5*time.Second // slack for a loaded machine
	deadline := time.After(bound)
	for r.liveSlot() == live {
		select {
		case <-r.e.Changed():
		case <-deadline:
			t.Fatalf("hung live instance not replaced within %s:\n%s", bound, r.events(live.rel))
		}
	}
	r.agree("v2")
	if got := r.liveSlot().inst.ID(); got == live.inst.ID() {
		t.Fatal("the hung instance still serves")
	}
	if ev := r.events(live.rel); !strings.Contains(ev, "fails its health check") {
		t.Errorf("no event says why it was replaced:\n%s", ev)
	}
	st, err := r.e.Status(context.Background(), r.spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !st[0].Live.Healthy {
		t.Errorf("replacement reported unhealthy: %s", st[0].Live.HealthReason)
	}
	for st[0].Warm.Healthy { // the warm one's watcher reaches its verdict too
		select {
		case <-r.e.Changed():
		case <-time.After(bound):
			t.Fatal("status never reported the hung warm instance")
		}
		if st, err = r.e.Status(context.Background(), r.spec.Name); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(st[0].Warm.HealthReason, "consecutive failures") {
		t.Errorf("warm health reason %q", st[0].Warm.HealthReason)
	}
}
