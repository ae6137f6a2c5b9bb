package release

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeClock ticks one millisecond (plus a nanosecond, to exercise exact
// round-trips) per reading, so orderings by time are deterministic.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond + time.Nanosecond)
	return c.t
}

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)

// openTest opens a store on a fresh file with a fake clock and closes it
// when the test ends.
func openTest(t *testing.T) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "state", "hotswap.db"))
}

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	s.now = (&fakeClock{t: t0}).Now
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// mk creates a release of service/version (deploy, queued) and fails the
// test on error.
func mk(t *testing.T, s *Store, service, version string) *Release {
	t.Helper()
	r := &Release{Service: service, Version: version, Kind: KindDeploy, Source: Source{Kind: SourceCLI, Actor: "alice"}}
	if err := s.CreateRelease(context.Background(), r); err != nil {
		t.Fatalf("CreateRelease(%s %s): %v", service, version, err)
	}
	return r
}

// setState moves release id along the given states with UpdateRelease.
func setState(t *testing.T, s *Store, id int64, states ...State) {
	t.Helper()
	for _, st := range states {
		err := s.UpdateRelease(context.Background(), id, func(r *Release) error {
			r.State = st
			return nil
		})
		if err != nil {
			t.Fatalf("release %d -> %s: %v", id, st, err)
		}
	}
}

func get(t *testing.T, s *Store, id int64) *Release {
	t.Helper()
	r, err := s.GetRelease(context.Background(), id)
	if err != nil {
		t.Fatalf("GetRelease(%d): %v", id, err)
	}
	return r
}

// deployLive takes a new release of version through queued -> deploying ->
// live, demoting the current live one to demoteTo.
func deployLive(t *testing.T, s *Store, service, version string, demoteTo State) *Release {
	t.Helper()
	r := mk(t, s, service, version)
	setState(t, s, r.ID, Deploying)
	if _, err := s.Promote(context.Background(), r.ID, demoteTo); err != nil {
		t.Fatalf("Promote(%d): %v", r.ID, err)
	}
	return get(t, s, r.ID)
}
