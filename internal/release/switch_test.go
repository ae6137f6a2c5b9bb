package release

import (
	"context"
	"errors"
	"testing"
)

// TestRecordSwitch: one transaction moves the new release to live with its
// instance and spec, the old live one to the given state and a taken-over
// warm one to retired without its instance; the taken-over release keeps
// its own times. An illegal move writes nothing.
func TestRecordSwitch(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	v1 := deployLive(t, s, "web", "v1", Retired)
	v2 := deployLive(t, s, "web", "v2", Warm)
	rb := mk(t, s, "web", "v1")
	setState(t, s, rb.ID, Deploying)
	v1w := get(t, s, v1.ID)
	if v1w.State != Warm {
		t.Fatalf("v1 is %s", v1w.State)
	}
	if err := s.UpdateRelease(ctx, v1.ID, func(r *Release) error { r.InstanceID = "inst-1"; return nil }); err != nil {
		t.Fatal(err)
	}
	v1w = get(t, s, v1.ID)

	demoted, err := s.RecordSwitch(ctx, Switch{Release: rb.ID, InstanceID: "inst-1", Addr: "127.0.0.1:1", Spec: `{"x":1}`, Demote: RolledBack, TakeOver: v1.ID})
	if err != nil || demoted != v2.ID {
		t.Fatalf("RecordSwitch: demoted %d, %v; want %d", demoted, err, v2.ID)
	}
	got, old, bad := get(t, s, rb.ID), get(t, s, v1.ID), get(t, s, v2.ID)
	if got.State != Live || got.InstanceID != "inst-1" || got.Spec != `{"x":1}` {
		t.Errorf("rollback release: %s %q %q", got.State, got.InstanceID, got.Spec)
	}
	if old.State != Retired || old.InstanceID != "" || old.Duration() != v1w.Duration() || !old.FinishedAt.Equal(v1w.FinishedAt) {
		t.Errorf("taken-over release: %s instance %q duration %s (was %s)", old.State, old.InstanceID, old.Duration(), v1w.Duration())
	}
	if bad.State != RolledBack {
		t.Errorf("replaced release: %s", bad.State)
	}

	// Same release, new instance (a supervisor replacement): no demotion.
	if d, err := s.RecordSwitch(ctx, Switch{Release: rb.ID, InstanceID: "inst-2", Addr: "127.0.0.1:2"}); err != nil || d != 0 {
		t.Fatalf("same release: %d %v", d, err)
	}
	if got := get(t, s, rb.ID); got.InstanceID != "inst-2" || got.State != Live {
		t.Errorf("after replacement: %s %q", got.State, got.InstanceID)
	}

	// Illegal: taking over a release that is not warm; nothing is written.
	v3 := mk(t, s, "web", "v3")
	setState(t, s, v3.ID, Deploying)
	_, err = s.RecordSwitch(ctx, Switch{Release: v3.ID, InstanceID: "inst-3", Demote: Warm, TakeOver: v2.ID})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("take over a rolled-back release: %v, want ErrConflict", err)
	}
	if got := get(t, s, v3.ID); got.State != Deploying || got.InstanceID != "" {
		t.Errorf("refused switch wrote: %s %q", got.State, got.InstanceID)
	}
	if got := get(t, s, rb.ID); got.State != Live {
		t.Errorf("refused switch demoted the live release: %s", got.State)
	}
}
