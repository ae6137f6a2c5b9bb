package deploy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/release"
)

// waitEvent waits until release id has a step event containing text.
func (r *rig) waitEvent(id int64, step, text string) {
	r.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		ch := r.e.Changed()
		evs, err := r.store.Events(context.Background(), id, 0)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, e := range evs {
			if e.Step == step && strings.Contains(e.Message, text) {
				return
			}
		}
		select {
		case <-ch:
		case <-deadline:
			r.t.Fatalf("no %s event with %q:\n%s", step, text, r.events(id))
		}
	}
}

// TestRollbackAtAnyMoment: a rollback asked for while a deploy is in its
// bake, a canary step, a held preview or its health gate is not refused
// (defect 3): it ends the deployment at once and traffic is on the
// previous version, recorded, and the release says why.
func TestRollbackAtAnyMoment(t *testing.T) {
	long := 10 * time.Minute // far beyond the test's deadlines: only ending early passes
	cases := []struct {
		name    string
		spec    func(*ServiceSpec)
		version string
		hold    bool
		// reached names the step event that shows the phase has begun.
		step, text string
		// the release a bare rollback returns: a new rollback release
		// (bake: the new version was live) or the ended deploy itself.
		newRelease bool
		wantDeploy release.State
	}{
		{name: "bake", version: "v2", step: "bake", text: "watching", newRelease: true, wantDeploy: release.RolledBack,
			spec: func(sp *ServiceSpec) {
				sp.Progressive.Analysis = &Analysis{Interval: 100 * time.Millisecond, MinRequests: 1 << 30, MaxErrorRate: 0.5, Bake: long}
			}},
		{name: "canary", version: "v2", step: "canary", text: "step 1/1", wantDeploy: release.RolledBack,
			spec: func(sp *ServiceSpec) {
				sp.Progressive.Strategy = "canary"
				sp.Progressive.Steps = []Step{{Percent: 50, Duration: long}}
			}},
		{name: "held preview", version: "v2", hold: true, step: "preview", text: "holding", wantDeploy: release.Aborted},
		{name: "health gate", version: "v2-unhealthy", step: "health", text: "waiting for", wantDeploy: release.Aborted,
			spec: func(sp *ServiceSpec) { sp.Health.Deadline = long }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "rb"+strings.ReplaceAll(tc.name[:4], " ", ""), tc.spec)
			r.deploy("v1", release.Live)
			d := r.submit(KindDeploy, tc.version, func(q *Request) { q.Hold = tc.hold })
			r.waitEvent(d.ID, tc.step, tc.text)
			rb := r.submit(KindRollback, "")
			if tc.newRelease == (rb.ID == d.ID) {
				t.Fatalf("rollback returned release %d (%s %s); the deploy is %d", rb.ID, rb.Kind, rb.Version, d.ID)
			}
			if got := r.wait(rb.ID); tc.newRelease && got.State != release.Live {
				t.Fatalf("rollback release: %s %q\n%s", got.State, got.Error, r.events(rb.ID))
			}
			got := r.wait(d.ID)
			if got.State != tc.wantDeploy {
				t.Fatalf("deploy: %s %q, want %s\n%s", got.State, got.Error, tc.wantDeploy, r.events(d.ID))
			}
			if !strings.Contains(r.events(d.ID), "rollback: rollback") && !strings.Contains(got.Error, "rolled back by tester") {
				t.Errorf("the deploy does not say a rollback ended it: %q\n%s", got.Error, r.events(d.ID))
			}
			r.agree("v1")
		})
	}
}

// TestOneRuleForRevivedWarm: a manual and an automatic rollback onto the
// warm version follow one rule (defect 5): a new rollback release owns the
// revived instance and carries the restored version's commit, author and
// image; the restored release retires and keeps its own duration.
func TestOneRuleForRevivedWarm(t *testing.T) {
	for _, auto := range []bool{false, true} {
		name := "manual"
		if auto {
			name = "automatic"
		}
		t.Run(name, func(t *testing.T) {
			r := newRig(t, "warm"+name[:4], func(sp *ServiceSpec) {
				if auto {
					sp.Progressive.Analysis = &Analysis{Interval: 100 * time.Millisecond, MinRequests: 10, MaxErrorRate: 0.05, Bake: time.Minute}
				}
			})
			v1 := r.wait(r.submit(KindDeploy, "v1", func(q *Request) { q.Commit, q.Author = "c0ffee", "alice" }).ID)
			bad := "v2"
			if auto {
				bad = "v2-errors"
			}
			d := r.submit(KindDeploy, bad, func(q *Request) { q.Commit, q.Author = "bad1", "bob" })
			r.waitEvent(d.ID, "switch", "traffic switched to "+bad)
			warmInst := r.warmSlot().inst.ID()
			var rbID int64
			if auto {
				// Traffic for the analysis to judge, bounded in time and count.
				stop := make(chan struct{})
				go func() {
					client := &http.Client{Timeout: 2 * time.Second}
					for i := 0; i < 20000; i++ {
						select {
						case <-stop:
							return
						default:
						}
						req, _ := http.NewRequest(http.MethodGet, r.srv.URL+"/", nil)
						req.Host = r.spec.Name + ".test"
						if resp, err := client.Do(req); err == nil {
							resp.Body.Close()
						}
					}
				}()
				got := r.wait(d.ID)
				close(stop)
				if got.State != release.RolledBack || !strings.Contains(got.Analysis, "error_rate") {
					t.Fatalf("bad deploy: %s %q analysis %q\n%s", got.State, got.Error, got.Analysis, r.events(d.ID))
				}
				rels, err := r.store.ListReleases(context.Background(), r.spec.Name, 10)
				if err != nil {
					t.Fatal(err)
				}
				rbID = rels[0].ID
			} else {
				r.wait(d.ID)
				rbID = r.submit(KindRollback, "").ID
			}
			rb := r.wait(rbID)
			r.agree("v1")
			if rb.Kind != release.KindRollback || rb.State != release.Live || rb.InstanceID != warmInst {
				t.Fatalf("rollback release %d: %s %s instance %s, want a live rollback owning the warm instance %s", rb.ID, rb.Kind, rb.State, rb.InstanceID, warmInst)
			}
			if rb.GitCommit != "c0ffee" || rb.Author != "alice" || rb.ImageRef != v1.ImageRef || rb.ImageDigest != v1.ImageDigest {
				t.Errorf("rollback release carries commit %q author %q image %q %q, want v1's %q %q %q %q",
					rb.GitCommit, rb.Author, rb.ImageRef, rb.ImageDigest, v1.GitCommit, v1.Author, v1.ImageRef, v1.ImageDigest)
			}
			if auto != (rb.Source.Kind == release.SourceAuto) {
				t.Errorf("rollback source %q", rb.Source.Kind)
			}
			after, err := r.store.GetRelease(context.Background(), v1.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.State != release.Retired || after.InstanceID != "" {
				t.Errorf("restored release: %s instance %q, want retired without an instance", after.State, after.InstanceID)
			}
			if after.Duration() != v1.Duration() {
				t.Errorf("restored release's duration changed from %s to %s", v1.Duration(), after.Duration())
			}
			bd, _ := r.store.GetRelease(context.Background(), d.ID)
			if bd.State != release.RolledBack {
				t.Errorf("bad deploy: %s, want rolled_back", bd.State)
			}
			// Restart: the rollback release's instance is re-adopted.
			r.restart()
			r.agree("v1")
			if got := r.liveSlot().inst.ID(); got != warmInst {
				t.Errorf("after restart instance %s serves, want %s", got, warmInst)
			}
		})
	}
}

// TestWarmDiesDuringRollback: the warm instance exits just as a rollback
// reaches it; the rollback starts the version anew instead, and the record
// names the new instance that serves.
func TestWarmDiesDuringRollback(t *testing.T) {
	r := newRig(t, "warmdie", nil)
	r.deploy("v1", release.Live)
	r.deploy("v2", release.Live)
	w := r.warmSlot()
	once := make(chan struct{}, 1)
	once <- struct{}{}
	// The rollback's first write marks it deploying: kill the warm
	// instance right then, as an OOM kill would.
	r.store.onWrite("UpdateRelease", func() {
		select {
		case <-once:
			_ = w.inst.Stop(context.Background())
		default:
		}
	})
	rb := r.wait(r.submit(KindRollback, "").ID)
	if rb.State != release.Live || rb.InstanceID == w.inst.ID() {
		t.Fatalf("rollback: %s instance %s (the dead warm one is %s)\n%s", rb.State, rb.InstanceID, w.inst.ID(), r.events(rb.ID))
	}
	r.agree("v1")
	if !strings.Contains(r.events(rb.ID), "starting it again") {
		t.Errorf("the rollback does not say the warm instance was gone:\n%s", r.events(rb.ID))
	}
	// The dead warm instance is not offered again: its release retires.
	if sl := r.warmSlot(); sl == w {
		t.Error("the dead warm instance is still held as warm")
	}
	for {
		ch := r.e.Changed()
		if got, err := r.store.GetRelease(context.Background(), w.rel); err != nil || got.State == release.Retired {
			break
		}
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("the dead warm instance's release did not retire")
		}
	}
}

// TestTakenOverWarmKeepsItsStreams: a stream on v1 keeps running on v1's
// old proxy target after v1 is replaced; a rollback takes v1's instance
// over with a new target; when v1 is later replaced and pushed out of the
// warm slot, its instance is stopped only after the old target's streams
// drained too (the zero-downtime e2e test once saw such a stream cut).
func TestTakenOverWarmKeepsItsStreams(t *testing.T) {
	r := newRig(t, "takeovr", nil)
	r.deploy("v1", release.Live)
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+"/stream?n=60&ms=50", nil) // 3 s, within the 5 s drain timeout
	req.Host = r.spec.Name + ".test"
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v := resp.Header.Get("X-Version"); v != "v1" {
		t.Fatalf("stream from %q", v)
	}
	done := make(chan error, 1)
	go func() {
		b, err := io.ReadAll(resp.Body)
		if err == nil && strings.Count(string(b), "data: ") != 60 {
			err = fmt.Errorf("stream cut after %d of 60 events", strings.Count(string(b), "data: "))
		}
		done <- err
	}()
	r.deploy("v2", release.Live)                                               // v1 warm; the stream drains on its old target
	if rb := r.wait(r.submit(KindRollback, "").ID); rb.State != release.Live { // v1's instance taken over
		t.Fatalf("rollback: %s", rb.State)
	}
	r.deploy("v3", release.Live) // v1 warm again
	r.deploy("v4", release.Live) // v1 pushed out of the warm slot: retired, stopped after draining
	if err := <-done; err != nil {
		t.Fatalf("the stream on v1: %v", err)
	}
}
