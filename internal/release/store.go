// Package release keeps hotswap's memory: every deploy and rollback action
// (a Release, whose ID is the deploy id callers get back), the step-by-step
// events of each, and an audit log of every command and webhook, accepted or
// not. It lives in one SQLite file so the daemon can restart, find what was
// live and re-adopt it, and so "rollback to previous" has something to read.
//
// The Store is safe for concurrent use by the engine, API handlers and
// webhook receivers. Writes are serialised in Go on a single connection, so
// they queue (honouring their context) instead of failing with SQLITE_BUSY;
// reads run in parallel on their own pool thanks to WAL.
package release

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors callers branch on; the API maps them to HTTP status in
// one place. Returned errors wrap them with context.
var (
	// ErrNotFound: no release (or live release, or rollback target) matches.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write contradicts the stored state — an illegal
	// state transition (see TransitionError), a second live release for a
	// service, or a duplicate webhook delivery on CreateRelease.
	ErrConflict = errors.New("conflict")
)

// busyTimeout is how long a connection waits for another process holding
// the database lock (a second daemon, a backup) before SQLITE_BUSY.
// Within one process writers never contend: see Store.write.
const busyTimeout = 10 * time.Second

// readConns bounds parallel readers; the API rarely needs more.
const readConns = 4

// Store is the release history in one SQLite file. Construct with Open;
// all methods are safe for concurrent use.
type Store struct {
	path string
	// write is the only pool that writes. It holds one connection, so
	// writers queue inside database/sql (respecting their contexts) rather
	// than race for SQLite's write lock; its transactions begin IMMEDIATE,
	// so a read-modify-write never has to upgrade a read lock and so never
	// meets SQLITE_BUSY from another process without waiting busyTimeout.
	write *sql.DB
	// read serves queries in parallel with the writer. WAL gives each read
	// a consistent snapshot; query_only guards against a write slipping in.
	read *sql.DB
	// now is the clock; tests may replace it before use, never after.
	now func() time.Time
	// backups is nil until EnableBackups; set once before use.
	backups *backups
	// retention bounds the audit log; set by SetAuditRetention before use.
	retention AuditRetention
}

// Open opens (creating if needed) the store at path: the directory with
// mode 0700 and the file with 0600, since the audit log says who did what.
// It enables WAL, foreign keys, a busy timeout, synchronous=FULL, and
// migrates the schema. A file that fails SQLite's quick_check, or is not
// a database, gives an error matching ErrCorrupt. Close the Store when done.
//
// Why synchronous=FULL with WAL: NORMAL is safe against a process crash
// but can lose the last commits on power loss or a kernel panic. A deploy
// id returned to a CI system, or an audit entry, must not silently vanish,
// and hotswap commits a handful of rows per deploy, so the extra fsync per
// commit costs nothing that matters.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open release store: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		// The driver reads everything after '?' as DSN options.
		return nil, fmt.Errorf("open release store %q: path must not contain '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open release store: create directory: %w", err)
	}
	// Create the file ourselves so it gets 0600; SQLite gives its -wal and
	// -shm files the same mode as the database.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open release store: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open release store: %w", err)
	}

	bt := fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeout.Milliseconds())
	write, err := sql.Open("sqlite", path+"?"+bt+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open release store %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	s := &Store{path: path, write: write, now: time.Now}
	if err := s.init(ctx, bt); err != nil {
		return nil, errors.Join(fmt.Errorf("open release store %s: %w", path, err), s.Close())
	}
	return s, nil
}

// init verifies WAL, migrates, and opens the read pool.
func (s *Store) init(ctx context.Context, busyPragma string) error {
	var mode string
	if err := s.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", corruptOr(err))
	}
	if err := checkIntegrity(ctx, s.write); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		// Without WAL readers and the writer block each other; refuse
		// rather than fail later with SQLITE_BUSY (e.g. on a network FS).
		return fmt.Errorf("journal mode is %q, want wal (is the file on a local filesystem?)", mode)
	}
	if err := migrate(ctx, s.write); err != nil {
		return corruptOr(err)
	}
	read, err := sql.Open("sqlite", s.path+"?"+busyPragma+"&_pragma=foreign_keys(1)&_pragma=query_only(1)")
	if err != nil {
		return fmt.Errorf("open read pool: %w", err)
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	s.read = read
	if err := read.PingContext(ctx); err != nil {
		return fmt.Errorf("open read pool: %w", err)
	}
	return nil
}

// Path is the database file, for logs and `hotswap status`.
func (s *Store) Path() string { return s.path }

// Close closes both pools. The last connection to close checkpoints the WAL
// into the main file. Calls after the first are harmless.
func (s *Store) Close() error {
	s.closeBackups()
	var errs []error
	if s.read != nil {
		if err := s.read.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close release store reader: %w", err))
		}
	}
	if err := s.write.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close release store writer: %w", err))
	}
	return errors.Join(errs...)
}

// writeTx runs fn in one IMMEDIATE transaction on the write connection and
// commits it, or rolls back if fn or the commit fails.
func (s *Store) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// sqliteCode returns the extended SQLite result code of err, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// isUnique reports a UNIQUE or PRIMARY KEY constraint violation.
func isUnique(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// isForeignKey reports a FOREIGN KEY constraint violation.
func isForeignKey(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// nowUTC is the store clock in UTC without a monotonic reading, so values
// compare equal to what is read back.
func (s *Store) nowUTC() time.Time { return s.now().UTC() }
