package release

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Level grades an event so the CLI can colour it and notifications can pick
// out the warnings.
type Level string

const (
	// LevelInfo: a normal step.
	LevelInfo Level = "info"
	// LevelWarn: something odd that did not stop the action.
	LevelWarn Level = "warn"
	// LevelError: the step failed.
	LevelError Level = "error"
)

// Event is one line of a release's step log ("start", "health", "switch",
// "drain", "stop" …). Events are append-only (the database refuses
// UPDATE), so `hotswap logs --follow` can tail them by ID.
type Event struct {
	ID        int64
	ReleaseID int64
	At        time.Time // defaults to now
	Step      string
	Message   string // bounded by MaxText
	// Duration is how long the step took, 0 if not meaningful.
	Duration time.Duration
	Level    Level // defaults to LevelInfo
}

// AppendEvent adds e to its release's log and returns the new event's ID.
// A ReleaseID that names no release is ErrNotFound.
func (s *Store) AppendEvent(ctx context.Context, e Event) (int64, error) {
	if e.At.IsZero() {
		e.At = s.nowUTC()
	}
	var id int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = insertEvent(ctx, tx, e)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("append event %q to release %d: %w", e.Step, e.ReleaseID, err)
	}
	return id, nil
}

func insertEvent(ctx context.Context, tx *sql.Tx, e Event) (int64, error) {
	if e.Level == "" {
		e.Level = LevelInfo
	}
	var errs []error
	if e.Step == "" {
		errs = append(errs, errors.New("step is empty"))
	}
	if e.Level != LevelInfo && e.Level != LevelWarn && e.Level != LevelError {
		errs = append(errs, fmt.Errorf("unknown level %q", e.Level))
	}
	errs = append(errs, checkTime("at", e.At))
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO events (release_id, at, step, message, duration, level)
		VALUES (?, ?, ?, ?, ?, ?)`,
		e.ReleaseID, encTime(e.At), e.Step, tail(e.Message, MaxText), int64(e.Duration), e.Level)
	switch {
	case isForeignKey(err):
		return 0, fmt.Errorf("release %d: %w", e.ReleaseID, ErrNotFound)
	case err != nil:
		return 0, fmt.Errorf("insert event: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("insert event: read id: %w", err)
	}
	return id, nil
}

// Events returns the events of release releaseID with ID > afterID, oldest
// first. Pass the last ID seen to follow a running deploy; 0 for all.
func (s *Store) Events(ctx context.Context, releaseID, afterID int64) ([]Event, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, release_id, at, step, message, duration, level
		FROM events WHERE release_id = ? AND id > ? ORDER BY id`, releaseID, afterID)
	if err != nil {
		return nil, fmt.Errorf("events of release %d: %w", releaseID, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e       Event
			at, dur int64
		)
		if err := rows.Scan(&e.ID, &e.ReleaseID, &at, &e.Step, &e.Message, &dur, &e.Level); err != nil {
			return nil, fmt.Errorf("events of release %d: %w", releaseID, err)
		}
		e.At, e.Duration = decTime(at), time.Duration(dur)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events of release %d: %w", releaseID, err)
	}
	return out, nil
}
