package release

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Outcome is how a command or webhook ended, from the caller's side.
type Outcome string

const (
	// OutcomeOK: accepted and done (or queued).
	OutcomeOK Outcome = "ok"
	// OutcomeRejected: refused — bad auth, bad signature, replay, invalid input.
	OutcomeRejected Outcome = "rejected"
	// OutcomeError: accepted but failed inside hotswap.
	OutcomeError Outcome = "error"
)

// Audit is one entry of the append-only log of every command and webhook,
// rejected ones included, so "who tried what, from where" has an answer.
//
// Callers must never put secrets in any field: not tokens, signatures,
// passwords or request bodies. As a safety net AppendAudit redacts the two
// shapes that most often leak (see Redact) from Detail, but that is not a
// licence to pass raw headers.
type Audit struct {
	ID      int64
	At      time.Time // defaults to now
	Actor   string    // CLI user or API token name
	Source  SourceKind
	Action  string // "deploy", "rollback", "webhook", "abort" …
	Service string
	Version string
	Outcome Outcome
	Detail  string // why rejected, the deploy id, …; redacted and bounded by MaxAuditDetail (every field is bounded: see bound)
	Remote  string // remote address, or "unix" for the local socket
}

// redactions are cheap patterns for credentials that end up in error
// strings: HTTP bearer tokens and HMAC webhook signatures.
var redactions = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)\b(bearer)\s+[^\s"',;]+`), "$1 [redacted]"},
	{regexp.MustCompile(`(?i)\b(sha(?:1|256|512)=)[0-9a-z+/=_-]+`), "$1[redacted]"},
}

// Redact replaces "Bearer <token>" and "sha256=<signature>" (also sha1,
// sha512) in s with placeholders. Exported so other packages can apply the
// same rule to their logs.
func Redact(s string) string {
	for _, r := range redactions {
		s = r.re.ReplaceAllString(s, r.with)
	}
	return s
}

// AppendAudit records a. Action and a known Outcome are required.
func (s *Store) AppendAudit(ctx context.Context, a Audit) error {
	if a.At.IsZero() {
		a.At = s.nowUTC()
	}
	var errs []error
	if a.Action == "" {
		errs = append(errs, errors.New("action is empty"))
	}
	if a.Outcome != OutcomeOK && a.Outcome != OutcomeRejected && a.Outcome != OutcomeError {
		errs = append(errs, fmt.Errorf("unknown outcome %q", a.Outcome))
	}
	errs = append(errs, checkTime("at", a.At))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("append audit %q: %w", a.Action, err)
	}
	a.Detail = Redact(a.Detail)
	a.bound()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, source, action, service, version, outcome, detail, remote)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			encTime(a.At), a.Actor, a.Source, a.Action, a.Service, a.Version, a.Outcome, a.Detail, a.Remote)
		if err != nil {
			return err
		}
		if id, err := res.LastInsertId(); err == nil && id%auditPruneEach == 0 {
			var n int64
			return s.pruneAuditTx(ctx, tx, s.retention.withDefaults(), &n)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append audit %q: %w", a.Action, err)
	}
	return nil
}

// ListAudit returns audit entries newest first, at most limit (<= 0: all),
// only those of service unless service is "".
func (s *Store) ListAudit(ctx context.Context, limit int, service string) ([]Audit, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, at, actor, source, action, service, version, outcome, detail, remote
		FROM audit WHERE (? = '' OR service = ?) ORDER BY id DESC LIMIT ?`, service, service, limit)
	if err != nil {
		return nil, fmt.Errorf("list audit of %q: %w", service, err)
	}
	defer rows.Close()
	var out []Audit
	for rows.Next() {
		var (
			a  Audit
			at int64
		)
		if err := rows.Scan(&a.ID, &at, &a.Actor, &a.Source, &a.Action, &a.Service, &a.Version, &a.Outcome, &a.Detail, &a.Remote); err != nil {
			return nil, fmt.Errorf("list audit of %q: %w", service, err)
		}
		a.At = decTime(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit of %q: %w", service, err)
	}
	return out, nil
}
