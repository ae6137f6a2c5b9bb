// Package proxy is hotswap's traffic plane: one HTTP handler on one stable
// address that routes every request to the version of a service that should
// serve it, so that a deploy is nothing more than a pointer swap followed by
// a drain.
//
// The package knows nothing about Docker, processes, config files or the
// release store. The deploy engine drives it through a few methods:
//
//	svc, _ := p.SetService("web", []string{"example.com"}, "", proxy.ServiceOptions{})
//	next, _ := svc.NewTarget("v2", "127.0.0.1:41237")
//	prev := svc.Switch(next)        // every request that starts now goes to v2
//	err := prev.Drain(ctx)          // wait for v1's in-flight requests to finish
//
// The request path takes no locks beyond a connection pool's push and
// pop: the route table and each service's live, canary and preview targets
// are atomic pointers to immutable values, and per-target counters are
// atomics. Requests are forwarded by a small HTTP/1.1 client that works
// inside the handler's goroutine (forward.go, response.go, pool.go); it
// costs well under half the CPU of httputil.ReverseProxy over net/http's
// Transport, whose per-request goroutine hand-offs dominate at this scale.
//
// A response that breaks off after its status line was sent is aborted
// with panic(http.ErrAbortHandler), as net/http/httputil does, so that the
// client sees a broken response rather than a clean but truncated one.
// Middleware in front of the proxy that recovers panics must re-panic that
// value.
package proxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultHealthPath is the reserved path that answers 200 "ok" on any host
// while the proxy runs: liveness. A load balancer choosing where to route
// should use Options.ReadyPath instead.
const DefaultHealthPath = "/_hotswap/up"

// Errors SetService returns; callers branch on them with errors.Is.
var (
	// ErrRouteConflict: a host and path prefix pair is already routed to
	// another service.
	ErrRouteConflict = errors.New("route already owned by another service")
	// ErrInvalidRoute: a host, prefix or service name is malformed.
	ErrInvalidRoute = errors.New("invalid route")
)

// Options configures a Proxy. The zero value is usable; every field has a
// default that suits a single-host deployment.
type Options struct {
	// HealthPath answers 200 "ok" on every host, independent of services.
	// Default DefaultHealthPath. Must start with "/".
	HealthPath string
	// ReadyPath, when set, answers 200 "ready" on every host while each
	// service in ReadyServices has a live target that is not draining and
	// could be reached at its last connection attempt, and 503 naming the
	// services that have none otherwise: the path to
	// give a load balancer, unlike HealthPath, which is pure liveness.
	// Default "" (not served).
	ReadyPath string
	// ReadyServices names the services ReadyPath requires; nil means every
	// service set with SetService. A named service that does not exist is
	// not ready.
	ReadyServices []string
	// AccessLog, when set, receives one JSON line per request: time, host,
	// method, path, status, bytes, duration_ms, service, version,
	// request_id, remote. Default nil (off).
	AccessLog io.Writer
	// NoRequestID turns off request ids. By default every request carries
	// X-Request-Id to the app and back to the client: the client's own
	// when it is a sane token, else a generated one.
	NoRequestID bool
	// Logger receives transport errors (debug) and forced drains (warn).
	// Default: slog.Default().
	Logger *slog.Logger
	// DialTimeout bounds connecting to a target. Default 2s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a target's response headers
	// (and for a small body after them); on expiry the client gets 504. To
	// keep timer updates off the hot path the bound is loose by up to 10%:
	// a wait may be cut after 90% of it. Default 60s (nginx's
	// proxy_read_timeout); negative disables it.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes pooled keep-alive connections to a target that
	// were unused this long, whether or not traffic continues. Default 90s.
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerTarget caps pooled keep-alive connections per target.
	// Default 512.
	MaxIdleConnsPerTarget int
	// TrustForwardedHeaders keeps the X-Forwarded-Proto and X-Forwarded-Host
	// a client sent and appends to its X-Forwarded-For. Enable it only when
	// a load balancer you control sits in front; by default the three
	// headers are replaced with what this proxy saw.
	TrustForwardedHeaders bool
	// ReadHeaderTimeout bounds how long a client may take to send its
	// request line and headers; set on the public server by
	// ConfigureServer. Default 10s.
	ReadHeaderTimeout time.Duration
	// ClientIdleTimeout closes a client's keep-alive connection idle this
	// long between requests; set by ConfigureServer. Default 120s.
	ClientIdleTimeout time.Duration
	// RequestBufferSize is the largest request body read whole from the
	// client before a target is picked and an upstream connection taken, so
	// that clients trickling their uploads hold no backend connection.
	// Larger bodies stream. Default 64 KiB; negative disables buffering.
	RequestBufferSize int64
	// ClientBodyTimeout bounds each read of a request body from the client
	// (the wait between two pieces of it); on expiry the client gets 400
	// and the connection is closed. Default 60s; negative disables it.
	ClientBodyTimeout time.Duration
	// SendTimeout bounds each write of a response body to the client (the
	// wait for a slow or stalled reader to make room); on expiry the
	// client's connection is closed. Default 60s; negative disables it.
	SendTimeout time.Duration
	// RetainDrained is how many drained targets per service stay visible to
	// the metrics collector, so their final counts get scraped. Default 8.
	RetainDrained int
}

func (o Options) withDefaults() Options {
	if o.HealthPath == "" {
		o.HealthPath = DefaultHealthPath
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.ResponseHeaderTimeout == 0 {
		o.ResponseHeaderTimeout = 60 * time.Second
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = 90 * time.Second
	}
	if o.MaxIdleConnsPerTarget <= 0 {
		o.MaxIdleConnsPerTarget = 512
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.ClientIdleTimeout <= 0 {
		o.ClientIdleTimeout = 120 * time.Second
	}
	if o.RequestBufferSize == 0 {
		o.RequestBufferSize = 64 << 10
	}
	if o.ClientBodyTimeout == 0 {
		o.ClientBodyTimeout = 60 * time.Second
	}
	if o.SendTimeout == 0 {
		o.SendTimeout = 60 * time.Second
	}
	if o.RetainDrained <= 0 {
		o.RetainDrained = 8
	}
	return o
}

// Proxy is the http.Handler that serves every configured service. Build it
// with New; it is safe for concurrent use.
type Proxy struct {
	// opts is read by every request and replaced whole by SetOptions.
	opts atomic.Pointer[Options]

	// table is the immutable route table read by every request; writers
	// build a new one under mu and swap it in.
	table atomic.Pointer[routeTable]

	// mu guards services and serialises table rebuilds. It is never taken
	// on the request path.
	mu       sync.Mutex
	services map[string]*serviceEntry

	// access is the access log, nil when off.
	access *accessLog

	// testBeforeRetry, set only by tests before traffic starts, runs
	// between a failed attempt and its retry.
	testBeforeRetry func()
}

// serviceEntry is a service plus the routes it owns; guarded by Proxy.mu.
type serviceEntry struct {
	svc    *Service
	hosts  []string // normalised
	prefix string   // normalised
}

var _ http.Handler = (*Proxy)(nil)

// New returns a Proxy with no services: every host gets 404 until
// SetService adds routes. It panics if opts.HealthPath does not start with
// "/", which is a programming error the config layer should have caught.
func New(opts Options) *Proxy {
	opts = opts.withDefaults()
	if !strings.HasPrefix(opts.HealthPath, "/") {
		panic(fmt.Sprintf("proxy: health path %q must start with /", opts.HealthPath))
	}
	p := &Proxy{services: map[string]*serviceEntry{}, access: newAccessLog(opts.AccessLog)}
	p.opts.Store(&opts)
	p.table.Store(&routeTable{})
	return p
}

// o returns the options in force.
func (p *Proxy) o() *Options { return p.opts.Load() }

// SetOptions replaces the options for every request that starts from now
// on (a configuration reload), atomically: a request sees the old set or
// the new one, never a mix. What belongs to the process rather than to a
// request keeps its value from New: AccessLog, Logger, and the public
// server's ReadHeaderTimeout and ClientIdleTimeout (ConfigureServer ran
// already). Pool settings (DialTimeout, IdleConnTimeout,
// MaxIdleConnsPerTarget) apply to targets added afterwards. It fails,
// changing nothing, if HealthPath does not start with "/".
func (p *Proxy) SetOptions(opts Options) error {
	opts = opts.withDefaults()
	if !strings.HasPrefix(opts.HealthPath, "/") {
		return fmt.Errorf("proxy: health path %q must start with /", opts.HealthPath)
	}
	cur := p.o()
	opts.AccessLog, opts.Logger = cur.AccessLog, cur.Logger
	opts.ReadHeaderTimeout, opts.ClientIdleTimeout = cur.ReadHeaderTimeout, cur.ClientIdleTimeout
	p.opts.Store(&opts)
	return nil
}

// SetService adds a service or replaces the routes and options of an
// existing one, keeping its targets. hosts are matched case-insensitively
// without port; "*" matches any host no other service claims. pathPrefix
// ("" or "/" for everything) matches on segment boundaries; the longest
// matching prefix wins. It returns ErrRouteConflict when a host+prefix pair
// belongs to another service and ErrInvalidRoute for malformed input; on
// error nothing changes.
func (p *Proxy) SetService(name string, hosts []string, pathPrefix string, opts ServiceOptions) (*Service, error) {
	if name == "" {
		return nil, fmt.Errorf("set service: empty name: %w", ErrInvalidRoute)
	}
	norm, err := normaliseHosts(hosts)
	if err != nil {
		return nil, fmt.Errorf("set service %s: %w", name, err)
	}
	prefix, err := normalisePrefix(pathPrefix)
	if err != nil {
		return nil, fmt.Errorf("set service %s: %w", name, err)
	}
	o := opts.withDefaults()

	p.mu.Lock()
	defer p.mu.Unlock()
	for other, e := range p.services {
		if other == name || e.prefix != prefix {
			continue
		}
		for _, h := range norm {
			for _, oh := range e.hosts {
				if h == oh {
					return nil, fmt.Errorf("set service %s: host %q prefix %q is routed to %s: %w",
						name, h, displayPrefix(prefix), other, ErrRouteConflict)
				}
			}
		}
	}
	e := p.services[name]
	if e == nil {
		e = &serviceEntry{svc: newService(name, p)}
		p.services[name] = e
	}
	e.hosts, e.prefix = norm, prefix
	e.svc.cfg.Store(&serviceConfig{ServiceOptions: o, prefix: prefix})
	p.rebuildLocked()
	return e.svc, nil
}

// RemoveService stops routing to the named service; its hosts answer 404
// from the next request on. Its targets are not drained: that is the
// caller's job, as it owns their processes.
func (p *Proxy) RemoveService(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.services[name]; !ok {
		return
	}
	delete(p.services, name)
	p.rebuildLocked()
}

// Service returns the named service, so the engine can switch its targets.
func (p *Proxy) Service(name string) (*Service, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.services[name]
	if !ok {
		return nil, false
	}
	return e.svc, true
}

// servicesSnapshot lists the current services for the metrics collector.
func (p *Proxy) servicesSnapshot() []*Service {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Service, 0, len(p.services))
	for _, e := range p.services {
		out = append(out, e.svc)
	}
	return out
}

// ServeHTTP arms the send timeout, gives the request its id, and logs it
// (when the access log is on) around route.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var send sendDeadline
	p.armSend(&send, w, now)
	var id []string
	if !p.o().NoRequestID {
		id = requestID(r)
		r.Header[requestIDHeader] = id
		w.Header()[requestIDHeader] = id
	}
	if p.access != nil {
		rec := &recorder{ResponseWriter: w}
		w = rec
		defer func() {
			var rid string
			if id != nil {
				rid = id[0]
			}
			p.access.write(r, rec, now, rid)
		}()
	}
	p.route(w, r, &send)
}

// route answers the health and readiness paths, routes by host and
// prefix, and forwards to the chosen service.
func (p *Proxy) route(w http.ResponseWriter, r *http.Request, send *sendDeadline) {
	if r.URL.Path == p.o().HealthPath {
		h := w.Header()
		h["Content-Type"] = textPlain
		h["Cache-Control"] = noStore
		io.WriteString(w, "ok\n")
		return
	}
	if r.URL.Path == p.o().ReadyPath && p.o().ReadyPath != "" {
		p.serveReady(w)
		return
	}
	if r.Method == http.MethodConnect {
		plainError(w, http.StatusMethodNotAllowed, "hotswap: CONNECT is not supported\n")
		return
	}
	svc := p.table.Load().lookup(r.Host, r.URL.Path)
	if svc == nil {
		plainError(w, http.StatusNotFound, fmt.Sprintf("hotswap: no service is configured for host %q and path %q\n", r.Host, r.URL.Path))
		return
	}
	svc.serve(w, r, send)
}

// serveReady answers the readiness path: 200 when every required service
// has a live target that is not draining and whose last connection attempt
// succeeded, else 503 with the names of those that have none.
func (p *Proxy) serveReady(w http.ResponseWriter) {
	var missing []string
	p.mu.Lock()
	names := p.o().ReadyServices
	if names == nil {
		names = make([]string, 0, len(p.services))
		for name := range p.services {
			names = append(names, name)
		}
		slices.Sort(names)
	}
	for _, name := range names {
		e := p.services[name]
		if e == nil {
			missing = append(missing, name)
			continue
		}
		if t := e.svc.live.Load(); t == nil || t.Draining() || t.unreachable.Load() {
			missing = append(missing, name)
		}
	}
	p.mu.Unlock()
	if len(missing) > 0 || len(names) == 0 {
		plainError(w, http.StatusServiceUnavailable, "not ready: no live, reachable version of "+strings.Join(missing, ", ")+"\n")
		return
	}
	h := w.Header()
	h["Content-Type"] = textPlain
	h["Cache-Control"] = noStore
	io.WriteString(w, "ready\n")
}

// Header values shared by every response we write ourselves; never mutated.
var (
	textPlain = []string{"text/plain; charset=utf-8"}
	noStore   = []string{"no-store"}
	nosniff   = []string{"nosniff"}
)

// plainError writes a short plain-text error produced by the proxy itself.
func plainError(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["X-Content-Type-Options"] = nosniff
	h["Cache-Control"] = noStore
	w.WriteHeader(code)
	io.WriteString(w, body)
}
