package docker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/runtime"
)

// TestPrune: retention removes the versions not kept, never a kept one nor
// one a container (even stopped) still needs, and reports what it freed.
func TestPrune(t *testing.T) {
	f := newFixture(t, "", "v1", "v2", "v3", "v4")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt := f.runtime(t, nil)
	inst, err := rt.Start(ctx, runtime.Spec{Version: "v3", ReleaseID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Stop(ctx); err != nil { // stopped, but a rollback target
		t.Fatal(err)
	}

	before, err := rt.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(before); !slices.Equal(got, []string{"v1", "v2", "v3", "v4"}) {
		t.Fatalf("Images = %q, want v1..v4", got)
	}
	for _, img := range before {
		if img.InUse != (img.Tags[0] == "v3") || img.Size <= 0 || img.Created.IsZero() {
			t.Errorf("image %+v", img)
		}
	}

	removed, freed, err := rt.Prune(ctx, []string{"v2", "v4"})
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	slices.Sort(removed)
	if !slices.Equal(removed, []string{f.repo + ":v1"}) {
		t.Errorf("removed %q, want only v1", removed)
	}
	if freed <= 0 {
		t.Errorf("freed %d bytes, want > 0", freed)
	}
	after, err := rt.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(after); !slices.Equal(got, []string{"v2", "v3", "v4"}) {
		t.Errorf("after Prune: %q, want v2 v3 v4", got)
	}

	// Once the container is gone, v3 goes too; kept ones still stay.
	if err := inst.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	removed, _, err = rt.Prune(ctx, []string{"v2", "v4"})
	if err != nil || !slices.Equal(removed, []string{f.repo + ":v3"}) {
		t.Errorf("second Prune removed %q, %v; want v3", removed, err)
	}
}

func versionsOf(imgs []ImageInfo) []string {
	var v []string
	for _, i := range imgs {
		v = append(v, i.Versions()...)
	}
	slices.Sort(v)
	return v
}
