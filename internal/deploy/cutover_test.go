package deploy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/release"
	rt "github.com/hotswap/hotswap/internal/runtime"
)

// liveSlot is the engine's live slot (nil when nothing serves).
func (r *rig) liveSlot() *slot {
	s := r.e.services[r.spec.Name]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

func (r *rig) warmSlot() *slot {
	s := r.e.services[r.spec.Name]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.warm
}

// restart closes the engine leaving the apps running, as a daemon restart
// does, and starts a new one on the same store: it must reconcile to the
// record.
func (r *rig) restart() {
	r.t.Helper()
	r.stop(false)
	r.start()
}

// TestCutoverStoreFailure: a store write that fails at any step of a traffic
// move leaves traffic, engine and record in agreement, ends the operation
// with a clear error instead of hanging, and a restart finds the same
// version serving. (Defect 1: the switch moved traffic, the record did not
// follow, the deploy hung and a restart silently went back.)
func TestCutoverStoreFailure(t *testing.T) {
	cases := []struct {
		name string
		op   string
		nth  int
		// run performs the operation on a service where v1 then v2 went
		// live (v1 warm) and returns the release to check.
		run       func(r *rig) *release.Release
		wantState release.State
		wantErr   string
		serving   string
	}{
		{name: "record of a deploy's switch", op: "RecordSwitch", nth: 1,
			run: func(r *rig) *release.Release { return r.wait(r.submit(KindDeploy, "v3").ID) }, wantState: release.Failed,
			wantErr: "could not record the switch to v3, so traffic stays on v2", serving: "v2"},
		{name: "record of a warm rollback", op: "RecordSwitch", nth: 1,
			run: func(r *rig) *release.Release { return r.wait(r.submit(KindRollback, "").ID) }, wantState: release.Failed,
			wantErr: "could not record the switch to v1, so traffic stays on v2", serving: "v2"},
		{name: "marking the deploy started", op: "UpdateRelease", nth: 1,
			run: func(r *rig) *release.Release { return r.wait(r.submit(KindDeploy, "v3").ID) }, wantState: release.Aborted,
			wantErr: "disk full", serving: "v2"},
		{name: "recording the new instance", op: "UpdateRelease", nth: 3,
			run: func(r *rig) *release.Release { return r.wait(r.submit(KindDeploy, "v3").ID) }, wantState: release.Live, serving: "v3"},
		{name: "step events after the switch", op: "AppendEvent", nth: 8,
			run: func(r *rig) *release.Release { return r.wait(r.submit(KindDeploy, "v3").ID) }, wantState: release.Live, serving: "v3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "cut"+strings.ReplaceAll(tc.name[:6], " ", ""), nil)
			r.deploy("v1", release.Live)
			r.deploy("v2", release.Live)
			r.store.arm(tc.op, tc.nth)
			rel := tc.run(r)
			r.store.arm("", 0)
			if rel.State != tc.wantState || !strings.Contains(rel.Error, tc.wantErr) {
				t.Fatalf("release %d %s %s: %s %q, want %s with %q\n%s", rel.ID, rel.Kind, rel.Version, rel.State, rel.Error, tc.wantState, tc.wantErr, r.events(rel.ID))
			}
			r.agree(tc.serving)
			r.restart()
			r.agree(tc.serving)
		})
	}
}

// TestCrashBetweenRecordAndSwap: the record is written first; a daemon that
// dies before it swaps the pointer comes back serving what the record says.
func TestCrashBetweenRecordAndSwap(t *testing.T) {
	r := newRig(t, "crashsw", nil)
	r.deploy("v1", release.Live)
	ctx := context.Background()
	// What a deploy of v2 has done when it crashes right after the record:
	// a healthy v2 instance, a release recorded live with it.
	rel := &release.Release{Service: r.spec.Name, Version: "v2", Kind: release.KindDeploy, State: release.Deploying}
	if err := r.store.CreateRelease(ctx, rel); err != nil {
		t.Fatal(err)
	}
	inst, err := r.rt.Start(ctx, rt.Spec{Version: "v2", ReleaseID: rel.ID})
	if err != nil {
		t.Fatal(err)
	}
	s := r.e.services[r.spec.Name]
	if err := r.e.gate(ctx, s, newDeployment(rel, Request{}), inst); err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.RecordSwitch(ctx, release.Switch{Release: rel.ID, InstanceID: inst.ID(), Addr: inst.Addr(), Demote: release.Warm}); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.serving(); v != "v1" {
		t.Fatalf("before the swap the proxy serves %q", v)
	}
	r.restart()
	r.agree("v2")
	if got := r.liveSlot().inst.ID(); got != inst.ID() {
		t.Fatalf("restart serves instance %s, want the recorded %s", got, inst.ID())
	}
	// Re-adopted without a probe; the watcher's first checks then say so.
	deadline := time.After(10 * time.Second)
	for {
		ch := r.e.Changed()
		st, err := r.e.Status(ctx, r.spec.Name)
		if err != nil {
			t.Fatal(err)
		}
		if l := st[0].Live; l.Healthy && !l.HealthCheck.IsZero() && strings.Contains(l.HealthReason, "passing") {
			break
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond): // probes do not signal: poll under the deadline
		case <-deadline:
			t.Fatalf("status never reported the re-adopted instance checked: %+v", st[0].Live)
		}
	}
}

// TestSupervisorRacesDeploy: a supervisor replacement that becomes ready
// after a deploy switched is stale: it changes nothing and its instance is
// removed; the deploy's version serves and is recorded.
func TestSupervisorRacesDeploy(t *testing.T) {
	r := newRig(t, "suprace", nil)
	r.deploy("v1", release.Live)
	release1 := make(chan struct{})
	held := make(chan struct{}, 1)
	r.rt.script(func(spec rt.Spec) error {
		if spec.Version == "v1" { // the supervisor's restart of v1
			held <- struct{}{}
			<-release1
		}
		return nil
	})
	dead := r.liveSlot()
	if err := dead.inst.Stop(context.Background()); err != nil { // as an OOM kill would
		t.Fatal(err)
	}
	<-held
	r.deploy("v2", release.Live)
	r.agree("v2")
	close(release1)
	// The supervisor's v1 instance comes up, finds its slot replaced and is
	// removed; the service stays on v2 throughout.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(r.events(dead.rel), "cleanup: removed leftover instance") {
		if time.Now().After(deadline) {
			t.Fatalf("the stale replacement was not removed:\n%s", r.events(dead.rel))
		}
		r.agree("v2")
		<-time.After(20 * time.Millisecond) // polling an outside condition under a deadline
	}
	r.agree("v2")
}

// TestSupervisorRecordFails: the first replacement of a crashed live
// instance cannot be recorded; it is not switched in, the next try is, and
// the record names the instance that serves.
func TestSupervisorRecordFails(t *testing.T) {
	r := newRig(t, "suprec", nil)
	r.deploy("v1", release.Live)
	dead := r.liveSlot()
	r.store.arm("RecordSwitch", 1)
	if err := dead.inst.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for sl := r.liveSlot(); sl == dead; sl = r.liveSlot() {
		if time.Now().After(deadline) {
			t.Fatalf("not replaced:\n%s", r.events(dead.rel))
		}
		select {
		case <-r.e.Changed():
		case <-time.After(time.Second):
		}
	}
	r.agree("v1")
	if ev := r.events(dead.rel); !strings.Contains(ev, "could not record the switch") {
		t.Fatalf("no event says the first replacement was refused:\n%s", ev)
	}
}

// TestRestartStopsReplacedInstances: a version that was replaced and still
// draining when the daemon died runs on with nobody to stop it; a restart
// finds it through its release's record and stops it (the process runtime
// cannot list its instances).
func TestRestartStopsReplacedInstances(t *testing.T) {
	r := newRig(t, "orphan", nil)
	v1 := r.deploy("v1", release.Live)
	r.deploy("v2", release.Live)
	r.stop(false) // like a crash: both instances keep running
	if err := r.store.UpdateRelease(context.Background(), v1.ID, func(rr *release.Release) error {
		rr.State = release.RolledBack // replaced, its drain interrupted by the crash
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	inst, err := r.rt.Adopt(context.Background(), v1.InstanceID)
	if err != nil || rt.Stopped(inst) {
		t.Fatalf("v1 should still run before the restart: %v", err)
	}
	r.start()
	r.agree("v2")
	select {
	case <-inst.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the replaced v1 instance still runs after the restart")
	}
}
