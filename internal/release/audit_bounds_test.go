package release

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuditBoundsAndRetention: every field of a hostile audit entry is cut
// to its bound, and the log keeps at most MaxRows (+ one pruning step) and
// nothing older than MaxAge.
func TestAuditBoundsAndRetention(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.SetAuditRetention(ctx, AuditRetention{MaxAge: time.Hour, MaxRows: 100}); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("é", 300<<10)
	if err := s.AppendAudit(ctx, Audit{At: s.nowUTC().Add(-2 * time.Hour), Actor: huge, Action: huge, Service: huge, Version: huge,
		Remote: huge, Detail: huge, Outcome: OutcomeRejected}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.ListAudit(ctx, 0, "")
	if err != nil || len(rows) != 1 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	a := rows[0]
	for name, f := range map[string]string{"actor": a.Actor, "action": a.Action, "service": a.Service, "version": a.Version, "remote": a.Remote} {
		if len(f) > MaxAuditShort {
			t.Errorf("%s stored with %d bytes, bound %d", name, len(f), MaxAuditShort)
		}
	}
	if len(a.Detail) > MaxAuditDetail {
		t.Errorf("detail stored with %d bytes, bound %d", len(a.Detail), MaxAuditDetail)
	}
	for i := 0; i < 1000; i++ {
		if err := s.AppendAudit(ctx, Audit{Action: "deploy", Outcome: OutcomeOK}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err = s.ListAudit(ctx, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) > 100+auditPruneEach {
		t.Errorf("%d audit rows kept, want at most %d", len(rows), 100+auditPruneEach)
	}
	for _, r := range rows {
		if r.At.Before(s.nowUTC().Add(-time.Hour)) {
			t.Errorf("row %d from %s outlived max age 1h", r.ID, r.At)
		}
	}
}

// TestCorruptDatabase: a file that is not a database, or whose pages are
// damaged, is refused with ErrCorrupt; a backup restores it.
func TestCorruptDatabase(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	path := filepath.Join(dir, "hotswap.db")
	s := openAt(t, path)
	if err := s.EnableBackups(filepath.Join(dir, "backups"), 2, nil); err != nil {
		t.Fatal(err)
	}
	deployLive(t, s, "web", "v1", Warm)
	backup, err := s.Backup(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "keep.db")
	if err := copyFile(backup, keep); err != nil {
		t.Fatal(err)
	}
	for i := 2; i < 5; i++ {
		if _, err := s.Backup(ctx, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if all, _ := ListBackups(filepath.Join(dir, "backups")); len(all) != 2 {
		t.Errorf("%d backups kept, want 2", len(all))
	}
	s.Close()
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open(garbage) = %v, want ErrCorrupt", err)
	}
	if _, err := Restore(ctx, keep, path); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	if _, err := s.Live(ctx, "web"); err != nil {
		t.Errorf("restored database: %v", err)
	}
}
