package release

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// TestConcurrentWriters runs 50 goroutines that each create, update and log
// a release while others read; none may see SQLITE_BUSY or lose a write.
func TestConcurrentWriters(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r := &Release{Service: fmt.Sprintf("svc%d", i%5), Version: fmt.Sprintf("v%d", i), Kind: KindDeploy}
			if err := s.CreateRelease(ctx, r); err != nil {
				errs <- err
				return
			}
			if err := s.UpdateRelease(ctx, r.ID, func(r *Release) error {
				r.State, r.InstanceID = Deploying, fmt.Sprint("i", i)
				return nil
			}); err != nil {
				errs <- err
			}
			if _, err := s.AppendEvent(ctx, Event{ReleaseID: r.ID, Step: "start"}); err != nil {
				errs <- err
			}
			if err := s.AppendAudit(ctx, Audit{Action: "deploy", Outcome: OutcomeOK, Service: r.Service}); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := s.ListReleases(ctx, "", 10); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rs, err := s.ByState(ctx, "", Deploying)
	if err != nil || len(rs) != n {
		t.Fatalf("ByState(deploying) = %d releases, %v; want %d", len(rs), err, n)
	}
	for _, r := range rs {
		if r.InstanceID == "" {
			t.Errorf("release %d lost its update", r.ID)
		}
	}
	if aus, err := s.ListAudit(ctx, 0, ""); err != nil || len(aus) != n {
		t.Errorf("audit rows = %d, %v; want %d", len(aus), err, n)
	}
}

// TestTwoStoresOneFile stands in for two processes (a daemon and a CLI, or
// a daemon being replaced) writing the same file at once: SQLite's lock
// arbitrates and busy_timeout plus BEGIN IMMEDIATE must absorb the waits.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	a, b := openAt(t, path), openAt(t, path)
	ctx := context.Background()
	r := mk(t, a, "web", "v1")
	const n = 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		for _, s := range []*Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.UpdateRelease(ctx, r.ID, func(r *Release) error {
					r.Note += "x" // read-modify-write: a lost update shows as a short Note
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", i, err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := get(t, b, r.ID); len(got.Note) != 2*n {
		t.Errorf("Note has %d marks, want %d: updates were lost", len(got.Note), 2*n)
	}
}

// TestIdempotentCreate fires 50 creates with one delivery id at once:
// exactly one row is created and every caller gets it back.
func TestIdempotentCreate(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	const n = 50
	type result struct {
		r       *Release
		created bool
		err     error
	}
	results := make(chan result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := &Release{Service: "web", Version: "v2", Kind: KindDeploy, Note: fmt.Sprint("caller ", i),
				Source: Source{Kind: SourceWebhook, WebhookKind: "github", DeliveryID: "abc-123"}}
			got, created, err := s.CreateReleaseIdempotent(ctx, r)
			results <- result{got, created, err}
		}()
	}
	close(start)
	wg.Wait()
	close(results)

	var createdID int64
	creators := 0
	var all []*Release
	for res := range results {
		if res.err != nil {
			t.Fatal(res.err)
		}
		if res.created {
			creators++
			createdID = res.r.ID
		}
		all = append(all, res.r)
	}
	if creators != 1 {
		t.Fatalf("%d callers created a row, want exactly 1", creators)
	}
	for _, r := range all {
		if r.ID != createdID || r.Source.DeliveryID != "abc-123" {
			t.Errorf("caller got release %d (%+v), want %d", r.ID, r.Source, createdID)
		}
	}
	if rs, err := s.ListReleases(ctx, "web", 0); err != nil || len(rs) != 1 {
		t.Errorf("rows for web = %d, %v; want 1", len(rs), err)
	}

	// The same delivery id from another sender is a different delivery.
	other := &Release{Service: "web", Version: "v2", Kind: KindDeploy, Source: Source{Kind: SourceWebhook, WebhookKind: "gitlab", DeliveryID: "abc-123"}}
	if got, created, err := s.CreateReleaseIdempotent(ctx, other); err != nil || !created || got.ID == createdID {
		t.Errorf("gitlab delivery = %+v, %v, %v; want a new row", got, created, err)
	}
	// No delivery id: always a new row.
	for range 2 {
		r := &Release{Service: "web", Version: "v3", Kind: KindDeploy}
		if _, created, err := s.CreateReleaseIdempotent(ctx, r); err != nil || !created {
			t.Errorf("no delivery id: created=%v err=%v", created, err)
		}
	}
	// The plain create refuses a duplicate delivery instead of hiding it.
	dup := &Release{Service: "web", Version: "v2", Kind: KindDeploy, Source: Source{Kind: SourceWebhook, WebhookKind: "github", DeliveryID: "abc-123"}}
	if err := s.CreateRelease(ctx, dup); !isConflict(err) {
		t.Errorf("CreateRelease(duplicate delivery) = %v, want ErrConflict", err)
	}
}
