package release

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// releaseCols is the column order shared by every SELECT and by scan.
const releaseCols = `id, service, version, kind, strategy, state,
	source_kind, source_actor, webhook_kind, delivery_id,
	note, git_commit, author, image_ref, image_digest, runtime, instance_id, addr,
	previous_id, error, analysis, hook_output,
	created_at, started_at, finished_at, live_at, spec`

type scanner interface{ Scan(dest ...any) error }

func scanRelease(row scanner) (*Release, error) {
	var (
		r                                  Release
		prev                               sql.NullInt64
		created, started, finished, liveAt int64
	)
	err := row.Scan(&r.ID, &r.Service, &r.Version, &r.Kind, &r.Strategy, &r.State,
		&r.Source.Kind, &r.Source.Actor, &r.Source.WebhookKind, &r.Source.DeliveryID,
		&r.Note, &r.GitCommit, &r.Author, &r.ImageRef, &r.ImageDigest, &r.Runtime, &r.InstanceID, &r.Addr,
		&prev, &r.Error, &r.Analysis, &r.HookOutput,
		&created, &started, &finished, &liveAt, &r.Spec)
	if err != nil {
		return nil, err
	}
	r.PreviousID = prev.Int64
	r.CreatedAt, r.StartedAt, r.FinishedAt, r.LiveAt = decTime(created), decTime(started), decTime(finished), decTime(liveAt)
	return &r, nil
}

// prevArg stores PreviousID 0 as NULL so the foreign key allows "none".
func prevArg(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// CreateRelease stores a new release and fills r.ID and r.CreatedAt. State
// defaults to Queued and must be Queued or Deploying: every other state is
// reached through UpdateRelease or Promote. A Source.DeliveryID already used
// by the same WebhookKind gives ErrConflict; webhooks want
// CreateReleaseIdempotent instead. A PreviousID that names no release is an
// error.
func (s *Store) CreateRelease(ctx context.Context, r *Release) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error { return s.insert(ctx, tx, r) })
	if err != nil {
		return fmt.Errorf("create release %s %s: %w", r.Service, r.Version, err)
	}
	return nil
}

// CreateReleaseIdempotent is CreateRelease for webhook deliveries: if a
// release with the same (Service, Source.WebhookKind, Source.DeliveryID) exists it is
// returned with created=false and nothing is written; otherwise r is stored
// and returned with created=true. Any number of concurrent calls with one
// delivery id create exactly one row. An empty DeliveryID always creates.
func (s *Store) CreateReleaseIdempotent(ctx context.Context, r *Release) (existing *Release, created bool, err error) {
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if r.Source.DeliveryID != "" {
			row := tx.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases
				WHERE service = ? AND webhook_kind = ? AND delivery_id = ?`, r.Service, r.Source.WebhookKind, r.Source.DeliveryID)
			got, err := scanRelease(row)
			switch {
			case err == nil:
				existing = got
				return nil
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("look up delivery: %w", err)
			}
		}
		if err := s.insert(ctx, tx, r); err != nil {
			return err
		}
		existing, created = r, true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("create release %s %s (delivery %q): %w", r.Service, r.Version, r.Source.DeliveryID, err)
	}
	return existing, created, nil
}

// insert validates r, fills its store-managed fields and inserts it. r is
// only modified if the insert succeeds.
func (s *Store) insert(ctx context.Context, tx *sql.Tx, r *Release) error {
	c := *r
	if c.State == "" {
		c.State = Queued
	}
	if c.State != Queued && c.State != Deploying {
		return fmt.Errorf("new release must be %s or %s, not %q", Queued, Deploying, c.State)
	}
	c.ID = 0
	c.CreatedAt = s.nowUTC()
	c.LiveAt = time.Time{} // store-managed
	stampTimes(&c, "", c.CreatedAt)
	if err := c.validate(); err != nil {
		return err
	}
	c.bound()
	res, err := tx.ExecContext(ctx, `INSERT INTO releases (`+releaseCols+`)
		VALUES (NULL, ?,?,?,?,?, ?,?,?,?, ?,?,?,?,?,?,?,?, ?,?,?,?, ?,?,?,?, ?)`,
		c.Service, c.Version, c.Kind, c.Strategy, c.State,
		c.Source.Kind, c.Source.Actor, c.Source.WebhookKind, c.Source.DeliveryID,
		c.Note, c.GitCommit, c.Author, c.ImageRef, c.ImageDigest, c.Runtime, c.InstanceID, c.Addr,
		prevArg(c.PreviousID), c.Error, c.Analysis, c.HookOutput,
		encTime(c.CreatedAt), encTime(c.StartedAt), encTime(c.FinishedAt), encTime(c.LiveAt), c.Spec)
	switch {
	case isUnique(err):
		return fmt.Errorf("%w: webhook delivery %s/%q already recorded", ErrConflict, c.Source.WebhookKind, c.Source.DeliveryID)
	case isForeignKey(err):
		return fmt.Errorf("previous release %d: %w", c.PreviousID, ErrNotFound)
	case err != nil:
		return fmt.Errorf("insert: %w", err)
	}
	if c.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("insert: read id: %w", err)
	}
	*r = c
	return nil
}

// stampTimes fills the times a state change implies, leaving any the caller
// already set: StartedAt on entering Deploying, LiveAt on every entry to
// Live, FinishedAt when the action ends (Live or Failed/Aborted/Superseded).
func stampTimes(r *Release, from State, now time.Time) {
	if r.State == from {
		return
	}
	switch r.State {
	case Deploying:
		if r.StartedAt.IsZero() {
			r.StartedAt = now
		}
	case Live:
		r.LiveAt = now
		if r.FinishedAt.IsZero() {
			r.FinishedAt = now
		}
	case Failed, Aborted, Superseded:
		if r.FinishedAt.IsZero() {
			r.FinishedAt = now
		}
	}
}

// getTx reads one release inside a write transaction.
func getTx(ctx context.Context, tx *sql.Tx, id int64) (*Release, error) {
	r, err := scanRelease(tx.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("release %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read release %d: %w", id, err)
	}
	return r, nil
}

// UpdateRelease applies fn to release id in one transaction: fn gets a
// copy of the stored row, and what it leaves there is written back unless
// it returns an error (which is returned, wrapped, and nothing is written).
// A change of State must be an edge of the state machine (see Valid), else
// the error is a *TransitionError (errors.Is ErrConflict). Moving a release
// to Live while another release of the service is Live is ErrConflict: use
// Promote, which swaps them atomically. ID, Service, Version, Kind, Source
// and CreatedAt are immutable; LiveAt is managed by the store.
func (s *Store) UpdateRelease(ctx context.Context, id int64, fn func(*Release) error) error {
	ended := false
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		old, err := getTx(ctx, tx, id)
		if err != nil {
			return err
		}
		r := *old
		if err := fn(&r); err != nil {
			return err
		}
		if err := checkImmutable(old, &r); err != nil {
			return err
		}
		r.LiveAt = old.LiveAt
		ended = r.State != old.State && r.State.Ended()
		return s.save(ctx, tx, old.State, &r)
	})
	if err != nil {
		return fmt.Errorf("update release %d: %w", id, err)
	}
	if ended {
		s.finished(id)
	}
	return nil
}

// save writes every mutable field of r after checking the transition from
// the stored state and stamping the times it implies.
func (s *Store) save(ctx context.Context, tx *sql.Tx, from State, r *Release) error {
	if r.State != from && !Valid(from, r.State) {
		return &TransitionError{ID: r.ID, From: from, To: r.State}
	}
	stampTimes(r, from, s.nowUTC())
	if err := r.validate(); err != nil {
		return err
	}
	r.bound()
	_, err := tx.ExecContext(ctx, `UPDATE releases SET strategy = ?, state = ?,
		note = ?, git_commit = ?, author = ?, image_ref = ?, image_digest = ?, runtime = ?, instance_id = ?, addr = ?,
		previous_id = ?, error = ?, analysis = ?, hook_output = ?,
		started_at = ?, finished_at = ?, live_at = ?, spec = ?
		WHERE id = ?`,
		r.Strategy, r.State,
		r.Note, r.GitCommit, r.Author, r.ImageRef, r.ImageDigest, r.Runtime, r.InstanceID, r.Addr,
		prevArg(r.PreviousID), r.Error, r.Analysis, r.HookOutput,
		encTime(r.StartedAt), encTime(r.FinishedAt), encTime(r.LiveAt), r.Spec,
		r.ID)
	switch {
	case isUnique(err):
		return fmt.Errorf("%w: another release of %s is already live (use Promote to swap)", ErrConflict, r.Service)
	case isForeignKey(err):
		return fmt.Errorf("previous release %d: %w", r.PreviousID, ErrNotFound)
	case err != nil:
		return fmt.Errorf("write release %d: %w", r.ID, err)
	}
	return nil
}

func checkImmutable(old, r *Release) error {
	var bad []string
	if r.ID != old.ID {
		bad = append(bad, "ID")
	}
	if r.Service != old.Service {
		bad = append(bad, "Service")
	}
	if r.Version != old.Version {
		bad = append(bad, "Version")
	}
	if r.Kind != old.Kind {
		bad = append(bad, "Kind")
	}
	if r.Source != old.Source {
		bad = append(bad, "Source")
	}
	if !r.CreatedAt.Equal(old.CreatedAt) {
		bad = append(bad, "CreatedAt")
	}
	if len(bad) > 0 {
		return fmt.Errorf("immutable fields changed: %v", bad)
	}
	return nil
}

// Promote makes release id the service's Live release in one transaction:
// the release currently Live (if any, and not id itself) moves to demoteTo
// (Warm, Retired or RolledBack) and id moves to Live. id must be Deploying
// (a normal switch) or Warm (an in-place rollback). It returns the demoted
// release's id, or 0 if nothing was live. Promoting the live release again
// is a no-op. Illegal edges give a *TransitionError and change nothing.
func (s *Store) Promote(ctx context.Context, id int64, demoteTo State) (demoted int64, err error) {
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		r, err := getTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.State == Live {
			return nil
		}
		if demoted, err = s.demoteLive(ctx, tx, r, demoteTo); err != nil {
			return err
		}
		from := r.State
		r.State = Live
		return s.save(ctx, tx, from, r)
	})
	if err != nil {
		return 0, fmt.Errorf("promote release %d: %w", id, err)
	}
	s.finished(id)
	return demoted, nil
}

// demoteLive checks r may become Live and moves the service's current Live
// release (if any) to demoteTo, inside tx. It returns the demoted id or 0.
func (s *Store) demoteLive(ctx context.Context, tx *sql.Tx, r *Release, demoteTo State) (int64, error) {
	if !Valid(r.State, Live) {
		return 0, &TransitionError{ID: r.ID, From: r.State, To: Live}
	}
	cur, err := scanRelease(tx.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases
		WHERE service = ? AND state = ?`, r.Service, Live))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("read live release of %s: %w", r.Service, err)
	}
	cur.State = demoteTo
	if err := s.save(ctx, tx, Live, cur); err != nil {
		return 0, err
	}
	return cur.ID, nil
}

// SupersedeQueued marks every Queued release of service older than keepID
// Superseded, with reason as its Error and a "supersede" event, and returns
// their ids oldest first. keepID must be a release of service (ErrNotFound
// otherwise). Newer deploys win: a queue never replays stale versions.
func (s *Store) SupersedeQueued(ctx context.Context, service string, keepID int64, reason string) ([]int64, error) {
	var ids []int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		keep, err := getTx(ctx, tx, keepID)
		if err != nil {
			return err
		}
		if keep.Service != service {
			return fmt.Errorf("release %d is not of service %s: %w", keepID, service, ErrNotFound)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+releaseCols+` FROM releases
			WHERE service = ? AND state = ? AND id < ? ORDER BY id`, service, Queued, keepID)
		if err != nil {
			return fmt.Errorf("list queued: %w", err)
		}
		olds, err := collect(rows)
		if err != nil {
			return fmt.Errorf("list queued: %w", err)
		}
		now := s.nowUTC()
		for i := range olds {
			r := &olds[i]
			r.State, r.Error = Superseded, reason
			if err := s.save(ctx, tx, Queued, r); err != nil {
				return err
			}
			if _, err := insertEvent(ctx, tx, Event{ReleaseID: r.ID, At: now, Step: "supersede",
				Message: fmt.Sprintf("superseded by release %d: %s", keepID, reason), Level: LevelInfo}); err != nil {
				return err
			}
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("supersede queued releases of %s before %d: %w", service, keepID, err)
	}
	return ids, nil
}
