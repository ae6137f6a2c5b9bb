package api

import (
	"time"

	"github.com/hotswap/hotswap/internal/release"
)

// DeployRequest is the body of POST /v1/services/{service}/deploy.
type DeployRequest struct {
	Version string `json:"version"`
	Note    string `json:"note,omitempty"`
	Commit  string `json:"commit,omitempty"`
	Author  string `json:"author,omitempty"`
	// Hold stops at preview, before the switch, until promote or abort.
	Hold bool `json:"hold,omitempty"`
	// Queue waits behind a running deploy instead of being refused.
	Queue bool `json:"queue,omitempty"`
}

// RollbackRequest is the body of POST /v1/services/{service}/rollback.
type RollbackRequest struct {
	Version string `json:"version,omitempty"` // "" = the previous good release
	Note    string `json:"note,omitempty"`
}

// Release is a release as the API shows it: the store's record with stable
// snake_case names, so scripts using --json do not depend on Go field names.
type Release struct {
	ID          int64     `json:"id"`
	Service     string    `json:"service"`
	Version     string    `json:"version"`
	Kind        string    `json:"kind"`
	Strategy    string    `json:"strategy,omitempty"`
	State       string    `json:"state"`
	Source      string    `json:"source"`
	Actor       string    `json:"actor,omitempty"`
	WebhookKind string    `json:"webhook_kind,omitempty"`
	DeliveryID  string    `json:"delivery_id,omitempty"`
	Note        string    `json:"note,omitempty"`
	GitCommit   string    `json:"git_commit,omitempty"`
	Author      string    `json:"author,omitempty"`
	ImageRef    string    `json:"image_ref,omitempty"`
	ImageDigest string    `json:"image_digest,omitempty"`
	InstanceID  string    `json:"instance_id,omitempty"`
	Addr        string    `json:"addr,omitempty"`
	PreviousID  int64     `json:"previous_id,omitempty"`
	Error       string    `json:"error,omitempty"`
	Analysis    string    `json:"analysis,omitempty"`
	HookOutput  string    `json:"hook_output,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	DurationMS  int64     `json:"duration_ms"`
}

// Event is one step of a release's log.
type Event struct {
	ID         int64     `json:"id"`
	Release    int64     `json:"release"`
	At         time.Time `json:"at"`
	Step       string    `json:"step"`
	Level      string    `json:"level"`
	Message    string    `json:"message"`
	DurationMS float64   `json:"duration_ms,omitempty"`
}

// StreamLine is one line of the NDJSON event stream: an event, or, last,
// the settled release.
type StreamLine struct {
	Event   *Event   `json:"event,omitempty"`
	Release *Release `json:"release,omitempty"`
}

// ReleaseDetail is GET /v1/releases/{id}: the release and its steps.
type ReleaseDetail struct {
	Release Release `json:"release"`
	Events  []Event `json:"events"`
}

// Accepted answers a deploy or rollback request.
type Accepted struct {
	Release   Release `json:"release"`
	StatusURL string  `json:"status_url"`
	Duplicate bool    `json:"duplicate,omitempty"`
}

// ControlResult answers promote and abort: the release they acted on.
type ControlResult struct {
	Release int64 `json:"release"`
}

// ReloadResult answers POST /v1/reload: what the new configuration changed.
type ReloadResult struct {
	Added     []string          `json:"added"`     // routed; nothing serves them until a deploy
	Removed   []string          `json:"removed"`   // 404 from now on; their instances drain and stop
	Updated   []ReloadedService `json:"updated"`   // routes and settings applied
	Unchanged []string          `json:"unchanged"` // not touched at all
	// Proxy says the proxy's per-request settings changed and apply to
	// every request from now on.
	Proxy bool `json:"proxy,omitempty"`
}

// ReloadedService is one service whose configuration changed.
type ReloadedService struct {
	Service string `json:"service"`
	// ConfigRelease is the release of kind config rolling the live version
	// out with the new instance configuration (0: none was needed); follow
	// it like a deploy. A failing health check refuses it and the old
	// instance keeps serving.
	ConfigRelease int64 `json:"config_release,omitempty"`
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Source  string    `json:"source"`
	Action  string    `json:"action"`
	Service string    `json:"service,omitempty"`
	Version string    `json:"version,omitempty"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail,omitempty"`
	Remote  string    `json:"remote,omitempty"`
}

func toRelease(r *release.Release) Release {
	return Release{
		ID: r.ID, Service: r.Service, Version: r.Version, Kind: string(r.Kind), Strategy: r.Strategy,
		State: string(r.State), Source: string(r.Source.Kind), Actor: r.Source.Actor,
		WebhookKind: r.Source.WebhookKind, DeliveryID: r.Source.DeliveryID,
		Note: r.Note, GitCommit: r.GitCommit, Author: r.Author, ImageRef: r.ImageRef, ImageDigest: r.ImageDigest,
		InstanceID: r.InstanceID, Addr: r.Addr, PreviousID: r.PreviousID, Error: r.Error, Analysis: r.Analysis,
		HookOutput: r.HookOutput, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		DurationMS: r.Duration().Milliseconds(),
	}
}

func toEvent(e release.Event) Event {
	return Event{ID: e.ID, Release: e.ReleaseID, At: e.At, Step: e.Step, Level: string(e.Level), Message: e.Message,
		DurationMS: float64(e.Duration.Microseconds()) / 1000}
}

func toAudit(a release.Audit) AuditEntry {
	return AuditEntry{ID: a.ID, At: a.At, Actor: a.Actor, Source: string(a.Source), Action: a.Action,
		Service: a.Service, Version: a.Version, Outcome: string(a.Outcome), Detail: a.Detail, Remote: a.Remote}
}
