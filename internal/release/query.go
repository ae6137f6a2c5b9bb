package release

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// collect scans all rows into releases and closes rows.
func collect(rows *sql.Rows) ([]Release, error) {
	defer rows.Close()
	var out []Release
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// list runs a read query returning releases.
func (s *Store) list(ctx context.Context, query string, args ...any) ([]Release, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+releaseCols+` FROM releases `+query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows)
}

// one runs a read query returning at most one release; none is ErrNotFound.
func (s *Store) one(ctx context.Context, query string, args ...any) (*Release, error) {
	r, err := scanRelease(s.read.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases `+query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

// GetRelease returns release id, or ErrNotFound.
func (s *Store) GetRelease(ctx context.Context, id int64) (*Release, error) {
	r, err := s.one(ctx, `WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("get release %d: %w", id, err)
	}
	return r, nil
}

// ListReleases returns the releases of service ("" for every service),
// newest first, at most limit of them (limit <= 0: all).
func (s *Store) ListReleases(ctx context.Context, service string, limit int) ([]Release, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rs, err := s.list(ctx, `WHERE (? = '' OR service = ?) ORDER BY id DESC LIMIT ?`, service, service, limit)
	if err != nil {
		return nil, fmt.Errorf("list releases of %q: %w", service, err)
	}
	return rs, nil
}

// LatestPerService returns the newest release of every service, ordered by
// service name: the overview `hotswap status` starts from.
func (s *Store) LatestPerService(ctx context.Context) ([]Release, error) {
	rs, err := s.list(ctx, `WHERE id IN (SELECT max(id) FROM releases GROUP BY service) ORDER BY service`)
	if err != nil {
		return nil, fmt.Errorf("list latest release per service: %w", err)
	}
	return rs, nil
}

// Live returns the service's Live release, or ErrNotFound if none is.
func (s *Store) Live(ctx context.Context, service string) (*Release, error) {
	r, err := s.one(ctx, `WHERE service = ? AND state = ?`, service, Live)
	if err != nil {
		return nil, fmt.Errorf("live release of %s: %w", service, err)
	}
	return r, nil
}

// ByState returns the releases of service ("" for every service) in any of
// states, oldest first: the order a queue is worked and instances are
// re-adopted after a restart. No states means no rows.
func (s *Store) ByState(ctx context.Context, service string, states ...State) ([]Release, error) {
	if len(states) == 0 {
		return nil, nil
	}
	args := []any{service, service}
	for _, st := range states {
		args = append(args, st)
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(states)), ",")
	rs, err := s.list(ctx, `WHERE (? = '' OR service = ?) AND state IN (`+marks+`) ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list %v releases of %q: %w", states, service, err)
	}
	return rs, nil
}

// LastGood returns the release of service that was most recently Live,
// other than any release of excludeVersion (normally the current live
// version) and other than RolledBack ones (known bad): the target of
// "rollback to previous". ErrNotFound if there is none.
func (s *Store) LastGood(ctx context.Context, service, excludeVersion string) (*Release, error) {
	r, err := s.one(ctx, `WHERE service = ? AND live_at <> 0 AND version <> ? AND state <> ?
		ORDER BY live_at DESC, id DESC LIMIT 1`, service, excludeVersion, RolledBack)
	if err != nil {
		return nil, fmt.Errorf("last good release of %s (excluding %q): %w", service, excludeVersion, err)
	}
	return r, nil
}

// FindVersion returns the most recently Live release of that version of
// service, so a rollback target is something that really ran. A version
// that never reached Live is ErrNotFound. Unlike LastGood it does include
// RolledBack releases: the operator named the version on purpose.
func (s *Store) FindVersion(ctx context.Context, service, version string) (*Release, error) {
	r, err := s.one(ctx, `WHERE service = ? AND version = ? AND live_at <> 0
		ORDER BY live_at DESC, id DESC LIMIT 1`, service, version)
	if err != nil {
		return nil, fmt.Errorf("release %s of %s that reached live: %w", version, service, err)
	}
	return r, nil
}
