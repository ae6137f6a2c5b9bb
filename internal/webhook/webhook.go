package webhook

import (
	"context"
	"errors"
	"time"

	"github.com/hotswap/hotswap/internal/version"
)

// Errors the handler maps to HTTP statuses. The Enqueuer wraps the first
// three; the parsers return the others.
var (
	// ErrUnknownService: the Enqueuer does not know the service (config
	// changed between lookup and enqueue). Mapped to 404.
	ErrUnknownService = errors.New("unknown service")
	// ErrUnavailable: the Enqueuer cannot take work now (shutting down).
	// Mapped to 503 so the CI retries.
	ErrUnavailable = errors.New("deploys unavailable")
	// ErrMalformed: the payload is not the JSON the hook expects. 400.
	ErrMalformed = errors.New("malformed payload")
	// ErrRepoMismatch: the payload is about another image. 403.
	ErrRepoMismatch = errors.New("repository does not match the service's image")
	// ErrIgnored: a valid payload that does not ask for a deploy (another
	// event or action, an untagged package). Answered 202, not enqueued.
	ErrIgnored = errors.New("ignored")
)

// Kind names the endpoint a request came through; it is recorded with the
// deploy so history shows what triggered it.
type Kind string

// The webhook kinds, one per endpoint.
const (
	KindGitHub    Kind = "github"
	KindDockerHub Kind = "dockerhub"
	KindGeneric   Kind = "generic"
)

// SourceWebhook is Request.Source for every request from this package, so
// the engine can tell webhook deploys from CLI and API ones.
const SourceWebhook = "webhook"

// Service is what the handler needs to know about one configured service.
// Empty secrets disable the corresponding endpoint for that service.
type Service struct {
	// Name is the service name used in hook paths.
	Name string
	// Image is the service's image reference ("ghcr.io/acme/web:latest");
	// a package or push must name this repository (tag ignored).
	Image string
	// Versions validates the version a hook asks for; nil means
	// version.Default.
	Versions *version.Validator
	// GitHubSecret is the GitHub webhook secret (X-Hub-Signature-256).
	GitHubSecret []byte
	// GenericSecret signs X-Hotswap-Signature on the generic endpoint.
	GenericSecret []byte
	// DockerHubToken is the path token of /hooks/dockerhub/{token}. Tokens
	// must be unique across services; if several match, the first in
	// Services.All order wins.
	DockerHubToken []byte
}

func (s Service) validator() *version.Validator {
	if s.Versions == nil {
		return version.Default
	}
	return s.Versions
}

// Services gives the handler the current service set. It is consulted on
// every request so a config reload takes effect at once.
type Services interface {
	// Lookup returns the service with that name.
	Lookup(name string) (Service, bool)
	// All returns every service, in a stable order (Docker Hub tokens are
	// matched against all of them).
	All() []Service
}

// Request is one deploy a hook asks for. Every string is bounded and free
// of control characters; Version has passed the service's validator.
type Request struct {
	Service string
	Version string
	Note    string // human note, at most MaxNoteLen bytes
	Commit  string // commit or ref the version was built from, if known
	Author  string // who caused it (GitHub login, pusher, payload author)
	// Source is always SourceWebhook.
	Source string
	// WebhookKind is the endpoint; Event the GitHub event ("" otherwise).
	WebhookKind Kind
	Event       string
	// DeliveryID is the idempotency key, unique per (Service,
	// WebhookKind); "" means the delivery cannot be deduplicated.
	DeliveryID string
	// Remote is the peer address, for the audit trail.
	Remote string
}

// Enqueuer starts deploys. It owns idempotency: a second request with the
// same (Service, WebhookKind, DeliveryID), DeliveryID non-empty, must not
// start a second deploy but return the first one's id with duplicate true,
// even when the two arrive concurrently.
type Enqueuer interface {
	// Enqueue records the deploy and returns its id without waiting for it
	// to run. Errors: wrapping ErrUnknownService, version.ErrInvalid or
	// ErrUnavailable; anything else is answered 500.
	Enqueue(ctx context.Context, req Request) (id int64, duplicate bool, err error)
}

// Outcome summarises what the handler did with a request.
type Outcome string

// The outcomes recorded in Entry.
const (
	OutcomeAccepted  Outcome = "accepted"  // a new deploy was enqueued
	OutcomeDuplicate Outcome = "duplicate" // the delivery was already enqueued
	OutcomeIgnored   Outcome = "ignored"   // authentic, but not a deploy
	OutcomePong      Outcome = "pong"      // GitHub ping
	OutcomeRejected  Outcome = "rejected"  // any 4xx/5xx
)

// Entry is one audit record. It never holds secrets, signatures or the
// Docker Hub path token.
type Entry struct {
	At         time.Time
	Kind       Kind   // "" when the path matched no endpoint
	Event      string // GitHub event
	Service    string // as named in the path, or matched by token; bounded
	DeliveryID string
	Remote     string
	Status     int
	Outcome    Outcome
	Reason     string // why rejected or ignored
	Version    string // once validated
	DeployID   int64  // when accepted or duplicate
}

// Auditor records every webhook request. Audit must not block for long:
// it runs before the response is written.
type Auditor interface {
	Audit(ctx context.Context, e Entry)
}
