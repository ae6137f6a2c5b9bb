package release

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Kind says whether a release was a forward deploy or a rollback. Both are
// actions with their own row so the history reads as what happened.
type Kind string

const (
	// KindDeploy: a new (or re-)deploy of a version.
	KindDeploy Kind = "deploy"
	// KindRollback: a return to a version that was live before.
	KindRollback Kind = "rollback"
	// KindConfig: the live version again, started with a changed service
	// configuration (command, env, health check…) and health-gated like a
	// deploy, so a bad configuration is refused while the old instance
	// keeps serving.
	KindConfig Kind = "config"
)

// SourceKind says through which door an action came in, for the audit
// trail and for idempotency of webhooks.
type SourceKind string

const (
	// SourceCLI: the hotswap CLI over the local unix socket.
	SourceCLI SourceKind = "cli"
	// SourceAPI: the control API over TCP with a token.
	SourceAPI SourceKind = "api"
	// SourceWebhook: a CI webhook delivery.
	SourceWebhook SourceKind = "webhook"
	// SourceAuto: the daemon itself (automatic abort or rollback).
	SourceAuto SourceKind = "auto"
	// SourceDashboard: a person in the web dashboard, logged in with a token.
	SourceDashboard SourceKind = "dashboard"
)

// Source records who asked for a release. It is stored with the row so the
// history answers "who deployed this" without joining the audit log.
type Source struct {
	Kind SourceKind
	// Actor is the CLI user or the API token's name — never the token.
	Actor string
	// WebhookKind names the sender ("github", "gitlab", "generic") when
	// Kind is SourceWebhook.
	WebhookKind string
	// DeliveryID is the sender's delivery id. When set, (WebhookKind,
	// DeliveryID) is unique across all releases: a redelivered webhook
	// finds the first release instead of creating a second.
	DeliveryID string
}

// MaxText bounds the free-text fields that may carry process output
// (Release.Error, Release.HookOutput, Event.Message, Audit.Detail) so a
// chatty hook cannot grow the database without limit. The tail is kept,
// because that is where the failure usually is.
const MaxText = 64 << 10

// Release is one deploy or rollback action for one service. Its ID is the
// deploy id handed back to callers. Rows are created by CreateRelease and
// changed only through UpdateRelease, Promote and SupersedeQueued, which
// keep State on the edges of the state machine (see Valid).
type Release struct {
	ID       int64
	Service  string
	Version  string
	Kind     Kind
	Strategy string // the strategy the engine used, e.g. "blue-green"
	State    State
	Source   Source
	// Note is the operator's free-text reason ("hotfix for #123").
	Note      string
	GitCommit string
	Author    string
	ImageRef  string
	// ImageDigest pins what actually ran, so a rollback starts the same bits.
	ImageDigest string
	// Runtime, InstanceID and Addr identify the running instance so the
	// daemon can re-adopt it after a restart (runtime.Runtime.Adopt).
	Runtime    string
	InstanceID string
	Addr       string
	// PreviousID is the release that was live when this one started (0 if
	// none): where an automatic abort goes back to.
	PreviousID int64
	// Error is why it failed or was aborted or superseded; human readable,
	// may be multi-line with a log tail. Bounded by MaxText.
	Error string
	// Analysis is a JSON document with the numbers that made an automatic
	// check fail (issue 5). Stored verbatim.
	Analysis string
	// HookOutput is the tail of the deploy hooks' output, bounded by MaxText.
	HookOutput string
	// Spec is the instance-defining configuration (command, env, image
	// settings, health check, resources) the instance of InstanceID was
	// started with, as the engine encodes it: a restart re-adopts the
	// instance against it, and a configuration that differs is rolled out
	// as a release of kind "config".
	Spec string

	CreatedAt time.Time // set by the store on create
	// StartedAt is set by the store when the release enters Deploying, and
	// FinishedAt when it reaches Live or a terminal state, unless the caller
	// set them first.
	StartedAt  time.Time
	FinishedAt time.Time
	// LiveAt is when the release last became Live (zero if never). The
	// store sets it; it orders rollback targets.
	LiveAt time.Time
}

// Duration is how long the action took: from StartedAt to FinishedAt, or to
// now while it is still running. Zero if it never started.
func (r *Release) Duration() time.Duration {
	switch {
	case r.StartedAt.IsZero():
		return 0
	case r.FinishedAt.IsZero():
		return time.Since(r.StartedAt)
	default:
		return r.FinishedAt.Sub(r.StartedAt)
	}
}

// validate checks what the database cannot, before a write.
func (r *Release) validate() error {
	var errs []error
	if r.Service == "" {
		errs = append(errs, errors.New("service is empty"))
	}
	if r.Version == "" {
		errs = append(errs, errors.New("version is empty"))
	}
	if r.Kind != KindDeploy && r.Kind != KindRollback && r.Kind != KindConfig {
		errs = append(errs, fmt.Errorf("kind %q is not %q, %q or %q", r.Kind, KindDeploy, KindRollback, KindConfig))
	}
	if !r.State.Known() {
		errs = append(errs, fmt.Errorf("unknown state %q", r.State))
	}
	switch r.Source.Kind {
	case SourceCLI, SourceAPI, SourceWebhook, SourceAuto, SourceDashboard, "":
	default:
		errs = append(errs, fmt.Errorf("unknown source kind %q", r.Source.Kind))
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"created_at", r.CreatedAt}, {"started_at", r.StartedAt}, {"finished_at", r.FinishedAt}, {"live_at", r.LiveAt}} {
		if err := checkTime(f.name, f.t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// bound trims the output-carrying fields to MaxText.
func (r *Release) bound() {
	r.Error = tail(r.Error, MaxText)
	r.HookOutput = tail(r.HookOutput, MaxText)
}

// tail returns s if it fits in max bytes, else its last bytes (cut on a
// UTF-8 boundary) behind a marker saying how much was dropped.
func tail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const markerRoom = 64 // "[… <n> bytes truncated]\n" always fits
	cut := len(s) - (max - markerRoom)
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return fmt.Sprintf("[… %d bytes truncated]\n", cut) + s[cut:]
}

// Times are stored as UTC unix nanoseconds; 0 means the zero time. That
// covers 1678..2262 exactly, which checkTime enforces.
var (
	minTime = time.Unix(0, -1<<63+1)
	maxTime = time.Unix(0, 1<<63-1)
)

func checkTime(name string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("%s %s is outside the storable range", name, t)
	}
	return nil
}

func encTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func decTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
