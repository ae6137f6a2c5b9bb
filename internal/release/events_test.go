package release

import (
	"context"
	"errors"
	"testing"
	"time"
)

func isConflict(err error) bool { return errors.Is(err, ErrConflict) }

func TestEvents(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	r, other := mk(t, s, "web", "v1"), mk(t, s, "web", "v2")

	steps := []Event{
		{ReleaseID: r.ID, Step: "start", Message: "pid 42"},
		{ReleaseID: other.ID, Step: "start"},
		{ReleaseID: r.ID, Step: "health", Message: "healthy after 3 checks", Duration: 2*time.Second + 7, Level: LevelWarn},
		{ReleaseID: r.ID, Step: "switch", At: t0.Add(-time.Hour), Level: LevelError},
	}
	var ids []int64
	for _, e := range steps {
		id, err := s.AppendEvent(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	got, err := s.Events(ctx, r.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != ids[0] || got[1].ID != ids[2] || got[2].ID != ids[3] {
		t.Fatalf("events = %+v", got)
	}
	if got[0].Level != LevelInfo || got[0].At.IsZero() || got[0].Message != "pid 42" {
		t.Errorf("defaults not applied: %+v", got[0])
	}
	if got[1].Duration != 2*time.Second+7 || got[1].Level != LevelWarn {
		t.Errorf("duration/level lost: %+v", got[1])
	}
	if !got[2].At.Equal(t0.Add(-time.Hour)) {
		t.Errorf("explicit At lost: %v", got[2].At)
	}
	tailEvs, err := s.Events(ctx, r.ID, ids[2])
	if err != nil || len(tailEvs) != 1 || tailEvs[0].Step != "switch" {
		t.Errorf("Events(after %d) = %+v, %v", ids[2], tailEvs, err)
	}

	for _, bad := range []Event{
		{ReleaseID: r.ID},
		{ReleaseID: r.ID, Step: "x", Level: "debug"},
	} {
		if _, err := s.AppendEvent(ctx, bad); err == nil {
			t.Errorf("AppendEvent(%+v) accepted", bad)
		}
	}
	if _, err := s.AppendEvent(ctx, Event{ReleaseID: 999, Step: "start"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("event for missing release: %v", err)
	}
	// Append-only, enforced by the database itself.
	if _, err := s.write.ExecContext(ctx, `UPDATE events SET message = 'rewritten'`); err == nil {
		t.Error("database allowed rewriting events")
	}
}
