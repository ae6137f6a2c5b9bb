// Package notify tells people and systems what deploys did: Slack, Discord
// and generic JSON webhooks. A deploy must never wait on, or fail because
// of, a chat service, so Notify only enqueues: each sink has its own
// bounded queue and worker goroutine, which delivers with a per-attempt
// timeout and bounded retries (exponential backoff with jitter; network
// errors, 408, 429 honouring Retry-After, and 5xx are retried; other 4xx
// are not). A full queue drops its oldest event, with a warning and a
// counter. Close drains the queues until its context ends.
//
// The package knows nothing of the deploy engine: the engine builds an
// Event and calls Notify.
package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Kind is what happened. Sinks filter on it.
type Kind string

// The event kinds.
const (
	KindStarted    Kind = "deploy.started"
	KindSucceeded  Kind = "deploy.succeeded"
	KindFailed     Kind = "deploy.failed"
	KindRolledBack Kind = "deploy.rolled_back" // manual or automatic: see Event.Automatic
	// KindCertificate: an HTTPS certificate needs a person (renewal
	// overdue, expiring file, a file that no longer loads). Details carry
	// "host" and "expires".
	KindCertificate Kind = "tls.certificate"
)

// Kinds lists every kind, for config validation and docs.
var Kinds = []Kind{KindStarted, KindSucceeded, KindFailed, KindRolledBack, KindCertificate}

// ParseKind accepts a kind as written in config: "deploy.failed" or just
// "failed".
func ParseKind(s string) (Kind, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, k := range Kinds {
		if s == string(k) || s == strings.TrimPrefix(string(k), "deploy.") || (k == KindCertificate && s == "certificate") {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown notification kind %q (want one of started, succeeded, failed, rolled_back, certificate)", s)
}

// Event is one notification. The engine fills what it knows; empty fields
// are left out of messages.
type Event struct {
	Kind            Kind   `json:"kind"`
	Service         string `json:"service"`
	Version         string `json:"version,omitempty"`          // the version deployed, or rolled back to
	PreviousVersion string `json:"previous_version,omitempty"` // what was live before
	ReleaseID       int64  `json:"release_id,omitempty"`
	Actor           string `json:"actor,omitempty"`  // who asked: user, "webhook:github", "hotswap"
	Reason          string `json:"reason,omitempty"` // why it failed or was rolled back
	// Automatic is true for a rollback hotswap decided itself (failed
	// health checks), false for one a person asked for.
	Automatic bool      `json:"automatic,omitempty"`
	At        time.Time `json:"at"`
	// Duration is how long the deploy took (succeeded, failed); sent as
	// duration_ms.
	Duration time.Duration     `json:"-"`
	Details  map[string]string `json:"details,omitempty"`
	// RollbackURL is a signed, expiring link to the dashboard's page for
	// rolling this deploy back (succeeded events, when the dashboard has a
	// public URL). The page still needs a login and a confirmation.
	RollbackURL string `json:"rollback_url,omitempty"`
}

// MarshalJSON adds duration_ms, the unit receivers expect, instead of Go's
// nanoseconds.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event // drops this method, keeps the field tags
	return json.Marshal(struct {
		plain
		DurationMS int64 `json:"duration_ms,omitempty"`
	}{plain(e), e.Duration.Milliseconds()})
}

// Message is the one-line human summary chat sinks send.
func (e Event) Message() string {
	var b strings.Builder
	switch e.Kind {
	case KindStarted:
		fmt.Fprintf(&b, "🚀 Deploying %s %s", e.Service, e.Version)
		if e.PreviousVersion != "" {
			fmt.Fprintf(&b, " (replacing %s)", e.PreviousVersion)
		}
	case KindSucceeded:
		fmt.Fprintf(&b, "✅ Deployed %s %s", e.Service, e.Version)
		if e.PreviousVersion != "" {
			fmt.Fprintf(&b, " (was %s)", e.PreviousVersion)
		}
		if e.Duration > 0 {
			fmt.Fprintf(&b, " in %s", e.Duration.Round(100*time.Millisecond))
		}
	case KindFailed:
		fmt.Fprintf(&b, "❌ Deploy of %s %s failed", e.Service, e.Version)
		if e.Duration > 0 {
			fmt.Fprintf(&b, " after %s", e.Duration.Round(100*time.Millisecond))
		}
		if e.PreviousVersion != "" {
			fmt.Fprintf(&b, "; %s still live", e.PreviousVersion)
		}
	case KindRolledBack:
		how := "Rolled back"
		if e.Automatic {
			how = "Automatically rolled back"
		}
		fmt.Fprintf(&b, "↩️ %s %s to %s", how, e.Service, e.Version)
		if e.PreviousVersion != "" {
			fmt.Fprintf(&b, " (from %s)", e.PreviousVersion)
		}
	case KindCertificate:
		fmt.Fprintf(&b, "🔒 HTTPS certificate for %s needs attention", e.Details["host"])
	default:
		fmt.Fprintf(&b, "%s %s %s", e.Kind, e.Service, e.Version)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	if e.Actor != "" {
		fmt.Fprintf(&b, " — by %s", e.Actor)
	}
	if e.ReleaseID != 0 {
		fmt.Fprintf(&b, " [release %d]", e.ReleaseID)
	}
	if e.RollbackURL != "" {
		fmt.Fprintf(&b, "\nRoll back: %s", e.RollbackURL)
	}
	return b.String()
}
