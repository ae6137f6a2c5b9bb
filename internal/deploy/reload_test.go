package deploy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/release"
)

// TestReloadDuringDeploy: a reload that changes what an instance is, while
// a deploy is held in preview, queues a config release of the live version
// behind it; the deploy goes on undisturbed. When the config release
// starts, the deploy has replaced its version: it ends saying so, and a
// config release for the version now live (started before the reload)
// rolls it out again, health-gated. Removing the service during a deploy
// ends the deploy and retires what served.
func TestReloadDuringDeploy(t *testing.T) {
	r := newRig(t, "reldep", nil)
	r.deploy("v1", release.Live)
	d := r.submit(KindDeploy, "v2", func(q *Request) { q.Hold = true })
	r.waitEvent(d.ID, "preview", "holding")

	sp := *r.e.services[r.spec.Name].spec()
	sp.Fingerprint = "changed"
	cr, err := r.e.UpdateService(context.Background(), sp)
	if err != nil || cr == nil || cr.Kind != release.KindConfig || cr.Version != "v1" {
		t.Fatalf("update: %+v %v, want a config release of the live v1", cr, err)
	}
	if _, err := r.e.Promote(r.spec.Name); err != nil {
		t.Fatal(err)
	}
	if got := r.wait(d.ID); got.State != release.Live {
		t.Fatalf("deploy during the reload: %s %q", got.State, got.Error)
	}
	if got := r.wait(cr.ID); got.State != release.Aborted || !strings.Contains(got.Error, "v2 replaced v1") {
		t.Fatalf("config release of the replaced version: %s %q", got.State, got.Error)
	}
	rels, err := r.store.ListReleases(context.Background(), r.spec.Name, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := r.wait(rels[0].ID)
	if got.Kind != release.KindConfig || got.Version != "v2" || got.State != release.Live || !strings.Contains(got.Spec, `"fingerprint":"changed"`) {
		t.Fatalf("follow-up config release: %s %s %s %q spec %s", got.Kind, got.Version, got.State, got.Error, got.Spec)
	}
	r.agree("v2")

	d3 := r.submit(KindDeploy, "v3", func(q *Request) { q.Hold = true })
	r.waitEvent(d3.ID, "preview", "holding")
	live := r.liveSlot()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.e.RemoveService(ctx, r.spec.Name); err != nil {
		t.Fatal(err)
	}
	if got := r.wait(d3.ID); got.State != release.Aborted || !strings.Contains(got.Error, "removed from the configuration") {
		t.Fatalf("deploy of a removed service: %s %q", got.State, got.Error)
	}
	if v, code := r.serving(); code != 404 {
		t.Fatalf("removed service still answered %d from %q", code, v)
	}
	select {
	case <-live.inst.Done():
	case <-ctx.Done():
		t.Fatal("the removed service's live instance was not stopped")
	}
	for {
		ch := r.e.Changed()
		rel, err := r.store.GetRelease(ctx, live.rel)
		if err != nil {
			t.Fatal(err)
		}
		if rel.State == release.Retired {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("removed service's live release is %s, want retired", rel.State)
		}
	}
}
