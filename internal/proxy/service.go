package proxy

import (
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
)

// ServiceOptions tune how one service is served. The zero value is usable.
type ServiceOptions struct {
	// StripPrefix removes the route's path prefix before forwarding, so an
	// app mounted at "/api" sees "/users" instead of "/api/users".
	StripPrefix bool
	// StickyCookie names the cookie that keeps a client on the same side of
	// a canary split. Default "hotswap_bucket". It holds a random bucket
	// number, not a version, and is only set while a canary is active.
	StickyCookie string
	// PreviewHeader routes a request to the preview target when present.
	// Default "X-Hotswap-Preview". The header is not forwarded.
	PreviewHeader string
	// PreviewCookie does the same as PreviewHeader for browsers. Default
	// "hotswap_preview".
	PreviewCookie string
	// PreviewValue is the secret the preview header or cookie must carry
	// (compared in constant time) to reach a preview target. When empty,
	// SetPreview generates a fresh random one for each preview and returns
	// it. A preview is never reachable without a secret.
	PreviewValue string
	// VersionHeader adds "X-Hotswap-Version: <version>" to responses. Off by
	// default so nothing internal leaks; tests and demos turn it on.
	VersionHeader bool
}

func (o ServiceOptions) withDefaults() ServiceOptions {
	if o.StickyCookie == "" {
		o.StickyCookie = "hotswap_bucket"
	}
	if o.PreviewHeader == "" {
		o.PreviewHeader = "X-Hotswap-Preview"
	}
	o.PreviewHeader = http.CanonicalHeaderKey(o.PreviewHeader)
	if o.PreviewCookie == "" {
		o.PreviewCookie = "hotswap_preview"
	}
	return o
}

// Service is one routed application and the targets that serve it. The
// pointers read per request (options, live, canary, preview) are atomics,
// so the engine can change them while traffic flows.
type Service struct {
	name string
	p    *Proxy

	cfg     atomic.Pointer[serviceConfig]
	live    atomic.Pointer[Target]
	canary  atomic.Pointer[canarySplit]
	preview atomic.Pointer[previewRoute]

	// clientErrors counts requests that failed because of their client
	// (malformed or broken-off body, body timeout, client gone before the
	// answer): never a target's fault, so never in a target's Stats.
	clientErrors atomic.Uint64

	// mu guards targets and retired, the lists the metrics collector
	// reads: targets created and not yet drained, and the most recently
	// drained ones (at most Options.RetainDrained).
	mu      sync.Mutex
	targets []*Target
	retired []*Target
}

// serviceConfig is what the request path reads of a service's settings,
// replaced whole by SetService.
type serviceConfig struct {
	ServiceOptions
	prefix string // the route's normalised path prefix, for StripPrefix
}

func newService(name string, p *Proxy) *Service {
	return &Service{name: name, p: p}
}

// Name is the service's name as given to SetService.
func (s *Service) Name() string { return s.name }

// Switch makes t the live target and returns the previous one (nil if
// none). Every request that starts after Switch returns is routed to t,
// unless a canary split or preview applies; requests already running finish
// on the previous target, which the caller then drains. Switch(nil) leaves
// the service without a live target: it answers 503. It panics if t belongs
// to another service.
func (s *Service) Switch(t *Target) (previous *Target) {
	s.own(t)
	return s.live.Swap(t)
}

// ClientErrors is the number of requests that failed because of their
// client: a malformed or broken-off request body, a body that did not
// arrive within the client body timeout, or a client that went away before
// its answer. They are answered 400 (or not at all) and kept out of every
// version's statistics, so a hostile client cannot fail a deploy.
func (s *Service) ClientErrors() uint64 { return s.clientErrors.Load() }

// Live returns the live target, or nil.
func (s *Service) Live() *Target { return s.live.Load() }

// SetCanary sends percent (0–100) of clients to t and the rest to the live
// target. Each client is assigned a random bucket kept in the sticky
// cookie, and a bucket goes to the canary while it is below the percentage,
// so a client stays on its version within a step and raising the
// percentage only moves clients from live to canary. It panics if t
// belongs to another service.
func (s *Service) SetCanary(t *Target, percent float64) {
	s.own(t)
	if t == nil {
		s.canary.Store(nil)
		return
	}
	percent = max(0, min(100, percent))
	s.canary.Store(&canarySplit{target: t, threshold: int(percent*bucketScale/100 + 0.5)})
}

// ClearCanary sends every client back to the live target; drain the canary
// afterwards if it is being discarded.
func (s *Service) ClearCanary() { s.canary.Store(nil) }

// Canary returns the canary target and its percentage, or nil.
func (s *Service) Canary() (*Target, float64) {
	c := s.canary.Load()
	if c == nil {
		return nil, 0
	}
	return c.target, float64(c.threshold) * 100 / bucketScale
}

// previewRoute is an immutable preview setting: requests carrying secret
// in the preview header or cookie go to target.
type previewRoute struct {
	target *Target
	secret string
}

// SetPreview routes requests that carry the preview secret in the preview
// header or cookie to t, and only to t, and returns the secret: the
// service's PreviewValue, or else a fresh random one (128 bits, hex) valid
// until the next SetPreview. It panics if t belongs to another service.
func (s *Service) SetPreview(t *Target) (secret string) {
	s.own(t)
	if t == nil {
		s.preview.Store(nil)
		return ""
	}
	secret = s.cfg.Load().PreviewValue
	if secret == "" {
		var b [16]byte
		crand.Read(b[:])
		secret = hex.EncodeToString(b[:])
	}
	s.preview.Store(&previewRoute{target: t, secret: secret})
	return secret
}

// ClearPreview makes preview requests go where any other request goes.
func (s *Service) ClearPreview() { s.preview.Store(nil) }

// Preview returns the preview target, or nil.
func (s *Service) Preview() *Target {
	if pv := s.preview.Load(); pv != nil {
		return pv.target
	}
	return nil
}

// PreviewSecret returns the secret that reaches the preview target, or ""
// when there is none. Show it only to callers allowed to deploy.
func (s *Service) PreviewSecret() string {
	if pv := s.preview.Load(); pv != nil {
		return pv.secret
	}
	return ""
}

func (s *Service) own(t *Target) {
	if t != nil && t.svc != s {
		panic(fmt.Sprintf("proxy: target %s of service %s used with service %s", t.version, t.svc.name, s.name))
	}
}

// maxPicks bounds how often a request re-reads the pointers after picking
// a target that started draining; a handful covers any real race.
const maxPicks = 4

// pick chooses and acquires the target for r. stick is the bucket cookie
// to set (-1 for none). A canary or preview target that is draining while
// still set falls back to the live target rather than failing the request.
// It returns nil when no target can take the request.
func (s *Service) pick(r *http.Request, o *serviceConfig) (t *Target, stick int) {
	for range maxPicks {
		t, stick = s.choose(r, o)
		if t == nil || t.acquire() {
			return t, stick
		}
		if live := s.live.Load(); live != nil && live != t && live.acquire() {
			return live, stick
		}
	}
	return nil, -1
}

// choose applies preview, then canary, then live; see split.go.
func (s *Service) choose(r *http.Request, o *serviceConfig) (*Target, int) {
	if pv := s.preview.Load(); pv != nil && wantsPreview(r, o, pv.secret) {
		return pv.target, -1
	}
	if c := s.canary.Load(); c != nil {
		b, fromCookie := clientBucket(r, o.StickyCookie)
		stick := -1
		if !fromCookie {
			stick = b
		}
		if b < c.threshold {
			return c.target, stick
		}
		return s.live.Load(), stick
	}
	return s.live.Load(), -1
}

// register adds a new target to the metrics' view.
func (s *Service) register(t *Target) {
	s.mu.Lock()
	s.targets = append(s.targets, t)
	s.mu.Unlock()
}

// retire moves a drained target to the bounded list of retired ones.
func (s *Service) retire(t *Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.targets, t)
	if i < 0 {
		return // already retired by an earlier Drain
	}
	s.targets = slices.Delete(s.targets, i, i+1)
	s.retired = append(s.retired, t)
	if n := len(s.retired) - s.p.o().RetainDrained; n > 0 {
		s.retired = slices.Delete(s.retired, 0, n)
	}
}

// allTargets lists active then retired targets for the collector.
func (s *Service) allTargets() []*Target {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(slices.Clone(s.targets), s.retired...)
}
