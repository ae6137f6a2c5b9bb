package release

import (
	"context"
	"database/sql"
	"fmt"
	"time"
	"unicode/utf8"
)

// Bounds on each stored audit field, in bytes. Everything in an audit row
// can come from outside (a URL path, a header, a webhook body), so every
// field is cut to its bound before it is written: one row is at most about
// 5 KiB whatever the request was.
const (
	MaxAuditShort       = 256     // actor, action, service, version, remote
	MaxAuditDetail      = 4 << 10 // detail
	auditPruneEach      = 128     // appends between two retention passes
	DefaultAuditMaxRows = 100_000
	DefaultAuditMaxAge  = 90 * 24 * time.Hour
)

// AuditRetention bounds the audit log: rows older than MaxAge and all but
// the newest MaxRows are deleted. Zero fields take the defaults (90 days,
// 100,000 rows); a negative value disables that bound.
type AuditRetention struct {
	MaxAge  time.Duration
	MaxRows int
}

func (r AuditRetention) withDefaults() AuditRetention {
	if r.MaxAge == 0 {
		r.MaxAge = DefaultAuditMaxAge
	}
	if r.MaxRows == 0 {
		r.MaxRows = DefaultAuditMaxRows
	}
	return r
}

// head cuts s to at most max bytes on a rune boundary, marking the cut.
func head(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const marker = "…[truncated]"
	cut := max - len(marker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + marker
}

// bound cuts every field of a to its bound.
func (a *Audit) bound() {
	a.Actor = head(a.Actor, MaxAuditShort)
	a.Action = head(a.Action, MaxAuditShort)
	a.Service = head(a.Service, MaxAuditShort)
	a.Version = head(a.Version, MaxAuditShort)
	a.Remote = head(a.Remote, MaxAuditShort)
	a.Detail = tail(a.Detail, MaxAuditDetail)
}

// SetAuditRetention sets the audit log's retention and applies it once.
// AppendAudit applies it again every 128 rows, so the log never holds more
// than MaxRows+128 rows. Call it before concurrent use.
func (s *Store) SetAuditRetention(ctx context.Context, r AuditRetention) error {
	s.retention = r.withDefaults()
	_, err := s.PruneAudit(ctx)
	return err
}

// PruneAudit deletes the audit rows the retention no longer keeps and
// returns how many.
func (s *Store) PruneAudit(ctx context.Context) (int64, error) {
	r := s.retention.withDefaults()
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		return s.pruneAuditTx(ctx, tx, r, &n)
	})
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	return n, nil
}

func (s *Store) pruneAuditTx(ctx context.Context, tx *sql.Tx, r AuditRetention, n *int64) error {
	if r.MaxAge > 0 {
		res, err := tx.ExecContext(ctx, `DELETE FROM audit WHERE at < ?`, encTime(s.nowUTC().Add(-r.MaxAge)))
		if err != nil {
			return err
		}
		c, _ := res.RowsAffected()
		*n += c
	}
	if r.MaxRows > 0 {
		res, err := tx.ExecContext(ctx, `DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - ?`, r.MaxRows)
		if err != nil {
			return err
		}
		c, _ := res.RowsAffected()
		*n += c
	}
	return nil
}
