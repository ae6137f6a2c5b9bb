package deploy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/release"
)

// TestDiskFullAtTheSwitch: the state disk fills up during a deploy, so the
// switch cannot be recorded (traffic stays) and neither can the release's
// failure. A follower (`hotswap deploy`, `hotswap wait`) must still learn
// how it ended, at once, instead of waiting forever on a row that says
// "deploying" (issue 9's first defect: "hotswap deploy hung with no further
// output").
func TestDiskFullAtTheSwitch(t *testing.T) {
	r := newRig(t, "diskfull", nil)
	r.deploy("v1", release.Live)
	// The switch's record fails; from then on, so does the next release
	// update (the one recording the failure): the disk is full.
	r.store.onWrite("RecordSwitch", func() { r.store.arm("UpdateRelease", 1) })
	r.store.arm("RecordSwitch", 1)
	id := r.submit(KindDeploy, "v2").ID

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rel, err := r.e.Wait(ctx, id)
	if err != nil {
		t.Fatalf("the deploy's end never reached its follower: %v", err)
	}
	r.store.arm("", 0)
	r.store.onWrite("RecordSwitch", nil)
	if rel.State != release.Failed || !strings.Contains(rel.Error, "traffic stays on v1") || !strings.Contains(rel.Error, "not recorded") {
		t.Errorf("follower got %s %q, want failed, traffic stays on v1, not recorded", rel.State, rel.Error)
	}
	row, err := r.store.GetRelease(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if row.State != release.Deploying {
		t.Fatalf("the stored row is %s: the failure was recorded, the test proves nothing", row.State)
	}
	if v, code := r.serving(); v != "v1" || code != 200 {
		t.Errorf("serving %q (%d), want v1", v, code)
	}

	// Space again: the next deploy records the late end, so the history
	// no longer says v2 is deploying.
	r.deploy("v3", release.Live)
	row, err = r.store.GetRelease(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if row.State != release.Failed || !strings.Contains(row.Error, "traffic stays on v1") {
		t.Errorf("v2's row after the next deploy: %s %q, want failed with its reason", row.State, row.Error)
	}
	r.agree("v3")
}
