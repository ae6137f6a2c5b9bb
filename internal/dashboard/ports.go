package dashboard

import (
	"context"
	"errors"
	"time"
)

// Backend is everything the dashboard needs from the daemon, in the
// dashboard's own view types, so the engine and the API can change without
// the pages noticing. The daemon implements it (internal/daemon/dashboard.go).
type Backend interface {
	// Services reports every service now: what serves, what is warm, what
	// is being deployed, and each version's traffic counters.
	Services(ctx context.Context) ([]ServiceView, error)
	// Releases lists a service's most recent releases, newest first.
	Releases(ctx context.Context, service string, limit int) ([]ReleaseView, error)
	// Release returns one release and its steps. ErrNotFound when unknown.
	Release(ctx context.Context, id int64) (ReleaseView, []StepView, error)
	// Audit lists the most recent audit entries, of one service when given.
	Audit(ctx context.Context, service string, limit int) ([]AuditView, error)
	// Act starts an action and returns the id of the release that tracks it.
	// Its errors are shown to the user as they are (a 409 page).
	Act(ctx context.Context, a Action) (int64, error)
	// Record appends an entry to the audit log.
	Record(ctx context.Context, e AuditView)
	// Changed returns a channel closed at the next change of any release
	// or step: the stream the CLI follows.
	Changed() <-chan struct{}
}

// ErrNotFound is what Backend.Release returns for an unknown release.
var ErrNotFound = errors.New("not found")

// ServiceView is one service as the overview shows it.
type ServiceView struct {
	Name  string
	Hosts []string
	Live  *VersionView
	Warm  *VersionView
	// WarmUntil is when the warm version will be stopped (zero: no warm).
	WarmUntil time.Time
	// Canary carries CanaryPercent of clients during a canary deploy.
	Canary        *VersionView
	CanaryPercent float64
	// Preview is a held deploy reachable only by preview requests.
	Preview *VersionView
	Active  *ActiveView // the deploy or rollback in progress, or nil
	Queued  int
}

// VersionView is one running version of a service and its traffic counters
// since it started (the dashboard turns them into rates).
type VersionView struct {
	Version  string
	Release  int64
	Since    time.Time
	Health   string // "healthy", or why not
	InFlight int64
	Requests uint64
	Errors   uint64 // 5xx responses, including the proxy's own 502/504
	P95      time.Duration
}

// ActiveView is the deployment in progress.
type ActiveView struct {
	Release int64
	Kind    string // deploy | rollback
	Version string
	Since   time.Time
}

// ReleaseView is one row of a service's history.
type ReleaseView struct {
	ID       int64
	Service  string
	Version  string
	Kind     string
	State    string
	Strategy string
	Trigger  string // cli, api, webhook, auto, dashboard
	Actor    string
	Note     string
	Commit   string
	Error    string
	Created  time.Time
	Duration time.Duration
	Settled  bool // no longer changing
}

// StepView is one step of a release's log.
type StepView struct {
	ID       int64
	At       time.Time
	Step     string
	Level    string
	Message  string
	Duration time.Duration
}

// AuditView is one audit log entry.
type AuditView struct {
	At      time.Time
	Actor   string
	Source  string
	Action  string
	Service string
	Version string
	Outcome string // ok | rejected | error
	Detail  string
	Remote  string
}

// Action kinds.
const (
	ActDeploy   = "deploy"
	ActRollback = "rollback"
	ActPromote  = "promote"
	ActAbort    = "abort"
)

// Action is what a deployer asked for, confirmed.
type Action struct {
	Kind    string // ActDeploy, ActRollback, ActPromote, ActAbort
	Service string
	Version string // deploy: required; rollback: the version to go back to
	Note    string
	Actor   string // the token's name
}
