package release

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	sqlite3 "modernc.org/sqlite/lib"
)

// ErrCorrupt: the database file fails SQLite's integrity check or is not a
// database at all. The daemon refuses to start on it rather than serve 503
// behind a green health check; a backup restores it.
var ErrCorrupt = errors.New("database is corrupt")

// BackupPrefix and BackupSuffix frame the names of backup files:
// hotswap-<UTC time>-r<release>.db, so a directory listing sorts them by age.
const (
	BackupPrefix = "hotswap-"
	BackupSuffix = ".db"
)

// checkIntegrity runs PRAGMA quick_check (the B-tree and index structure,
// O(N), no cross-index check) and wraps a failure in ErrCorrupt.
func checkIntegrity(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		return corruptOr(err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return corruptOr(err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return corruptOr(err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// corruptOr wraps err in ErrCorrupt when SQLite says the file is damaged or
// not a database.
func corruptOr(err error) error {
	switch sqliteCode(err) & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// Verify opens the database at path read-only and checks its integrity, for
// a backup about to be restored. It changes nothing.
func Verify(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkIntegrity(ctx, db); err != nil {
		return err
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM releases").Scan(&n); err != nil {
		return fmt.Errorf("%w: no release table: %w", ErrCorrupt, corruptOr(err))
	}
	return nil
}

// backups runs the store's backups in one goroutine: a finished release
// asks for one (kick), requests coalesce, and Close waits for the one in
// progress.
type backups struct {
	dir  string
	keep int
	kick chan int64 // buffered 1: the release that asked; a pending ask is enough
	stop chan struct{}
	done chan struct{}
	log  func(err error)

	mu   sync.Mutex // guards last
	last string     // newest backup written by this process
}

// EnableBackups makes the store write an online backup of itself into dir
// after each release that finishes (goes live, fails, is aborted, rolled
// back or superseded), keeping the newest keep files (default 5). onErr
// receives failed backups (they never fail the write that asked). Call it
// once, before use.
func (s *Store) EnableBackups(dir string, keep int, onErr func(error)) error {
	if keep <= 0 {
		keep = 5
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("backup dir: %w", err)
	}
	if onErr == nil {
		onErr = func(error) {}
	}
	b := &backups{dir: dir, keep: keep, kick: make(chan int64, 1), stop: make(chan struct{}), done: make(chan struct{}), log: onErr}
	s.backups = b
	go func() {
		defer close(b.done)
		for {
			select {
			case <-b.stop:
				return
			case rel := <-b.kick:
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if _, err := s.Backup(ctx, rel); err != nil {
					b.log(err)
				}
				cancel()
			}
		}
	}()
	return nil
}

// finished tells the backup goroutine a release has ended.
func (s *Store) finished(rel int64) {
	if s.backups == nil {
		return
	}
	select {
	case s.backups.kick <- rel:
	default: // one is already pending; it will include this release
	}
}

// closeBackups stops the backup goroutine, waiting for a backup in progress.
func (s *Store) closeBackups() {
	if s.backups == nil {
		return
	}
	select {
	case <-s.backups.stop:
	default:
		close(s.backups.stop)
	}
	<-s.backups.done
}

// Backup writes a consistent copy of the database into the backup
// directory (VACUUM INTO: SQLite's online copy, taken in one read
// transaction on the write connection, so writers wait for it: the
// database is small) through a temporary file, fsync and
// rename, then removes all but the newest backups. rel names the release
// that asked, for the file name. It returns the backup's path.
func (s *Store) Backup(ctx context.Context, rel int64) (string, error) {
	b := s.backups
	if b == nil {
		return "", errors.New("backup: not enabled")
	}
	name := fmt.Sprintf("%s%s-r%d%s", BackupPrefix, s.nowUTC().Format("20060102T150405.000000000Z"), rel, BackupSuffix)
	final := filepath.Join(b.dir, name)
	tmp := filepath.Join(b.dir, "."+name+".tmp")
	_ = os.Remove(tmp)
	if _, err := s.write.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("backup to %s: %w", final, err)
	}
	if err := syncFile(tmp); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("backup to %s: %w", final, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("backup to %s: %w", final, err)
	}
	syncDir(b.dir)
	b.mu.Lock()
	b.last = final
	b.mu.Unlock()
	all, err := ListBackups(b.dir)
	if err != nil {
		return final, err
	}
	for _, old := range all[min(len(all), b.keep):] {
		if err := os.Remove(old); err != nil && !errors.Is(err, os.ErrNotExist) {
			return final, fmt.Errorf("remove old backup: %w", err)
		}
	}
	return final, nil
}

// ListBackups returns the backups in dir, newest first ("" dir or a missing
// one: none).
func ListBackups(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, BackupPrefix) && strings.HasSuffix(n, BackupSuffix) {
			out = append(out, filepath.Join(dir, n))
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out, nil
}

// Restore replaces the database at path with a copy of backup, after
// checking the backup's integrity. The file it replaces (if any) and its
// WAL are kept beside it as <path>.broken-<time>. The caller must hold the
// state directory's lock (no daemon may have path open).
func Restore(ctx context.Context, backup, path string) (kept string, err error) {
	if err := Verify(ctx, backup); err != nil {
		return "", fmt.Errorf("backup %s: %w", backup, err)
	}
	if _, err := os.Stat(path); err == nil {
		kept = path + ".broken-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(path, kept); err != nil {
			return "", fmt.Errorf("set the current database aside: %w", err)
		}
	}
	for _, ext := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + ext); err != nil {
			continue
		}
		// Kept beside the database it belongs to; without one it is useless
		// and would be replayed into the restored file.
		if kept == "" || os.Rename(path+ext, kept+ext) != nil {
			if err := os.Remove(path + ext); err != nil {
				return kept, fmt.Errorf("remove %s: %w", path+ext, err)
			}
		}
	}
	if err := copyFile(backup, path); err != nil {
		return kept, fmt.Errorf("restore %s: %w", backup, err)
	}
	return kept, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := to + ".restore.tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, to); err != nil {
		return err
	}
	syncDir(filepath.Dir(to))
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
