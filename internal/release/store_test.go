package release

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOpenCreatesPrivateWALDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "hotswap.db")
	s := openAt(t, path)
	ctx := context.Background()

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("db file mode %o, want 600", perm)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("db dir mode %o, want 700", perm)
	}
	pragmas := []struct {
		db   *sql.DB
		name string
		want string
	}{
		{s.write, "journal_mode", "wal"},
		{s.write, "synchronous", "2"}, // FULL
		{s.write, "foreign_keys", "1"},
		{s.write, "busy_timeout", "10000"},
		{s.write, "user_version", strconv.Itoa(len(migrations))},
		{s.read, "foreign_keys", "1"},
		{s.read, "query_only", "1"},
	}
	for _, p := range pragmas {
		var got string
		if err := p.db.QueryRowContext(ctx, "PRAGMA "+p.name).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", p.name, err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s = %s, want %s", p.name, got, p.want)
		}
	}
	if _, err := s.read.ExecContext(ctx, `DELETE FROM releases`); err == nil {
		t.Error("read pool accepted a write")
	}
}

func TestOpenRejects(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, path := range []string{"", filepath.Join(dir, "x?mode=ro"), filepath.Join(dir, "x#y")} {
		if s, err := Open(ctx, path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
	// A database written by a newer hotswap is refused, not misread.
	path := filepath.Join(dir, "new.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.ExecContext(ctx, "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("Open accepted schema version 99")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestReopenReadsBackEverything writes one of everything, closes, reopens
// and compares field by field, times to the nanosecond.
func TestReopenReadsBackEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hotswap.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.now = (&fakeClock{t: t0}).Now

	prev := &Release{Service: "web", Version: "v1", Kind: KindDeploy}
	if err := s.CreateRelease(ctx, prev); err != nil {
		t.Fatal(err)
	}
	local := time.FixedZone("UTC+5:30", 5*3600+1800)
	r := &Release{
		Service: "web", Version: "v2", Kind: KindRollback, Strategy: "blue-green", State: Deploying,
		Source: Source{Kind: SourceWebhook, Actor: "ci-token", WebhookKind: "github", DeliveryID: "d-1"},
		Note:   "hotfix\nline 2", GitCommit: "abc123", Author: "Zoë", ImageRef: "app:v2",
		ImageDigest: "sha256:00ff", Runtime: "docker", InstanceID: "c0ffee", Addr: "127.0.0.1:4001",
		PreviousID: prev.ID, Error: "exit 1\nlog tail…", Analysis: `{"error_rate":0.2}`, HookOutput: "ok\n",
		StartedAt: time.Date(2025, 1, 1, 10, 0, 0, 999999999, local),
	}
	if err := s.CreateRelease(ctx, r); err != nil {
		t.Fatal(err)
	}
	fin := time.Date(2025, 1, 1, 4, 31, 2, 1, time.UTC)
	if err := s.UpdateRelease(ctx, r.ID, func(r *Release) error {
		r.State, r.FinishedAt = Failed, fin
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := get(t, s, r.ID)
	ev := Event{ReleaseID: r.ID, At: t0.Add(time.Hour), Step: "health", Message: "3/3 failed", Duration: 1500 * time.Millisecond, Level: LevelError}
	if ev.ID, err = s.AppendEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	au := Audit{At: t0.Add(2 * time.Hour), Actor: "alice", Source: SourceCLI, Action: "deploy", Service: "web", Version: "v2",
		Outcome: OutcomeRejected, Detail: "bad input", Remote: "unix"}
	if err := s.AppendAudit(ctx, au); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openAt(t, path)
	got := get(t, s2, r.ID)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reopen:\n got %+v\nwant %+v", got, want)
	}
	// Sanity of what was stored, independent of the earlier read.
	if !got.StartedAt.Equal(r.StartedAt) || got.StartedAt.Location() != time.UTC {
		t.Errorf("StartedAt %v, want %v in UTC", got.StartedAt, r.StartedAt)
	}
	if !got.FinishedAt.Equal(fin) || got.State != Failed || got.PreviousID != prev.ID || got.Source != r.Source {
		t.Errorf("stored row differs from what was written: %+v", got)
	}
	if !got.CreatedAt.After(t0) || !got.LiveAt.IsZero() {
		t.Errorf("CreatedAt %v LiveAt %v", got.CreatedAt, got.LiveAt)
	}
	evs, err := s2.Events(ctx, r.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || !reflect.DeepEqual(evs[0], ev) {
		t.Errorf("events after reopen = %+v, want [%+v]", evs, ev)
	}
	aus, err := s2.ListAudit(ctx, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(aus) != 1 || aus[0].ID == 0 {
		t.Fatalf("audit after reopen = %+v", aus)
	}
	au.ID = aus[0].ID
	if !reflect.DeepEqual(aus[0], au) {
		t.Errorf("audit after reopen = %+v, want %+v", aus[0], au)
	}
}

func TestTimesOutsideStorableRangeRefused(t *testing.T) {
	s := openTest(t)
	r := &Release{Service: "web", Version: "v1", Kind: KindDeploy, StartedAt: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := s.CreateRelease(context.Background(), r); err == nil {
		t.Fatal("year 1500 accepted; it cannot round-trip as unix nanos")
	}
}
