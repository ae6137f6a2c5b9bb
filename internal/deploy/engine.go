// Package deploy is the engine that moves a service from one version to
// another: it asks a runtime to start the new version, gates it on health,
// flips the proxy's pointer, keeps the old version warm for instant
// rollback, then drains and stops it — recording every step in the release
// store so the CLI can stream it and the history survives restarts.
//
// It is the only package that knows about all the others: runtime, health,
// proxy and release are independent of each other and of the engine.
//
// Ownership: each service has one owner of its traffic, service.cut: every
// move of what serves it goes through cutover (cutover.go) under it, in one
// order — record in the store, then swap the proxy's pointer — so record and
// traffic never disagree. service.mu guards the slots, the running
// deployment and the queue for readers and for the install itself. A
// deployment runs in one goroutine owned by the engine (tracked by
// Engine.wg); waiting (health, hooks, canary, bake, drain) happens outside
// every lock.
package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/hotswap/hotswap/internal/health"
	"github.com/hotswap/hotswap/internal/proxy"
	"github.com/hotswap/hotswap/internal/release"
	rt "github.com/hotswap/hotswap/internal/runtime"
	"github.com/hotswap/hotswap/internal/version"
)

// Errors callers branch on (the API maps them to HTTP status, the CLI to
// exit codes). They are wrapped with detail.
var (
	ErrUnknownService = errors.New("unknown service")
	ErrBusy           = errors.New("a deploy is already running for this service")
	ErrNeverDeployed  = errors.New("version was never deployed")
	ErrNoPrevious     = errors.New("no earlier release to roll back to")
	ErrAlreadyLive    = errors.New("version is already live")
	ErrNoDeployment   = errors.New("no deploy in progress")
	ErrClosed         = errors.New("engine is shutting down")
)

// Notifier receives deploy lifecycle events (Slack, webhooks…). Notify must
// not block: a slow receiver must never delay a deploy.
type Notifier interface {
	Notify(ev Notification)
}

// Notification is what the engine tells the outside world.
type Notification struct {
	Kind            string // started | succeeded | failed | rolled_back
	Service         string
	Version         string
	PreviousVersion string
	ReleaseID       int64
	Actor           string
	Reason          string
	Automatic       bool
	Duration        time.Duration
	At              time.Time
}

// Store is what the engine needs of the release store (*release.Store).
// It is an interface so engine tests can make a write fail at a chosen step
// of a cutover, on top of the real store.
type Store interface {
	CreateRelease(ctx context.Context, r *release.Release) error
	CreateReleaseIdempotent(ctx context.Context, r *release.Release) (*release.Release, bool, error)
	UpdateRelease(ctx context.Context, id int64, fn func(*release.Release) error) error
	RecordSwitch(ctx context.Context, sw release.Switch) (int64, error)
	SupersedeQueued(ctx context.Context, service string, keepID int64, reason string) ([]int64, error)
	AppendEvent(ctx context.Context, ev release.Event) (int64, error)
	GetRelease(ctx context.Context, id int64) (*release.Release, error)
	ListReleases(ctx context.Context, service string, limit int) ([]release.Release, error)
	Live(ctx context.Context, service string) (*release.Release, error)
	ByState(ctx context.Context, service string, states ...release.State) ([]release.Release, error)
	LastGood(ctx context.Context, service, excludeVersion string) (*release.Release, error)
	FindVersion(ctx context.Context, service, version string) (*release.Release, error)
}

// Pruner is the optional image-retention side of a runtime (Docker).
type Pruner interface {
	Prune(ctx context.Context, keep []string) (removed []string, freed int64, err error)
}

// ServiceSpec is everything the engine needs to deploy one service; the
// daemon builds it from config.
type ServiceSpec struct {
	Name         string
	Hosts        []string
	PathPrefix   string
	Runtime      rt.Runtime
	Versions     *version.Validator
	Health       health.Check
	DrainTimeout time.Duration // in-flight requests on a replaced version get this long
	WarmFor      time.Duration // a replaced version keeps running this long (rollback = pointer flip)
	Hooks        [][]string    // pre-traffic commands, run in order against the new version
	HookTimeout  time.Duration
	KeepReleases int // how many recent releases' artifacts to keep (Docker images); 0 = 5
	Proxy        proxy.ServiceOptions
	Progressive  Progressive // canary / preview / analysis (zero value: plain blue/green)
	// Fingerprint identifies the instance-defining configuration (command,
	// env, image settings, health check, resources) the runtime starts
	// instances with. It is recorded with each instance; a restart that
	// finds the live instance started with another one re-adopts it as it
	// is and rolls the new configuration out as a release of kind config.
	Fingerprint string
}

// instanceSpec is what an instance was started with, recorded with its
// release (release.Release.Spec) so it is re-adopted and watched against
// that, not against a configuration edited since.
type instanceSpec struct {
	Fingerprint string       `json:"fingerprint"`
	Health      health.Check `json:"health"`
}

// currentSpec is what an instance started now runs with.
func (sp ServiceSpec) currentSpec() instanceSpec {
	return instanceSpec{Fingerprint: sp.Fingerprint, Health: sp.Health}
}

func (is instanceSpec) encode() string {
	b, _ := json.Marshal(is) // plain fields: cannot fail
	return string(b)
}

// decodeSpec reads a recorded spec. The database is outside input: a
// release written before specs were recorded, or a value that does not
// decode to a usable health check, is taken to match the current
// configuration (so the instance is still watched, with today's check).
func decodeSpec(s string, current instanceSpec) instanceSpec {
	var is instanceSpec
	if s == "" || json.Unmarshal([]byte(s), &is) != nil {
		return current
	}
	h := is.Health
	if h.Interval <= 0 || h.Timeout <= 0 || h.HealthyThreshold < 1 || h.UnhealthyThreshold < 0 ||
		(h.Path != "" && h.Path[0] != '/') || len(h.Path) > 2048 || len(h.Host) > 255 {
		return current
	}
	return is
}

// Options configures an Engine.
type Options struct {
	Store    Store
	Proxy    *proxy.Proxy
	Notifier Notifier // may be nil
	Log      *slog.Logger
	// StopOnClose stops every instance when the engine closes (the demo and
	// tests). A daemon leaves them running so a restart re-adopts them.
	StopOnClose bool
}

// Engine orchestrates deploys for every configured service.
type Engine struct {
	store  Store
	proxy  *proxy.Proxy
	notify Notifier
	log    *slog.Logger
	opts   Options

	svcMu    sync.RWMutex // guards services (a reload adds and removes)
	services map[string]*service

	ctx    context.Context // cancelled by Close; parent of every deployment
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the engine starts

	changeMu sync.Mutex    // guards changed
	changed  chan struct{} // closed and replaced whenever a release or event changes

	// unrecorded holds, by release ID, the end of a deployment whose final
	// state the store refused to write (a full disk): release id →
	// unrecordedEnd. Followers learn it from here instead of waiting
	// forever on a row that still says "deploying".
	unrecorded sync.Map
}

// New registers every service's routes with the proxy. Call Recover before
// the proxy serves traffic, so live versions are back in place.
func New(opts Options, specs []ServiceSpec) (*Engine, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		store: opts.Store, proxy: opts.Proxy, notify: opts.Notifier, log: opts.Log, opts: opts,
		services: make(map[string]*service, len(specs)),
		ctx:      ctx, cancel: cancel,
		changed: make(chan struct{}),
	}
	for _, sp := range specs {
		if _, err := e.addService(sp); err != nil {
			cancel()
			return nil, err
		}
	}
	return e, nil
}

// AddService adds a service to a running engine (a reload): it is routed
// and recovered like one configured at start (anything left of an earlier
// life of the same name is reconciled to its records); nothing serves it
// until a deploy, unless its records name a live release.
func (e *Engine) AddService(ctx context.Context, sp ServiceSpec) error {
	s, err := e.addService(sp)
	if err != nil {
		return err
	}
	return e.recoverService(ctx, s)
}

// addService routes a new service and gives it its engine state.
func (e *Engine) addService(sp ServiceSpec) (*service, error) {
	if sp.Versions == nil {
		sp.Versions = version.Default
	}
	if sp.KeepReleases <= 0 {
		sp.KeepReleases = 5
	}
	e.svcMu.Lock()
	defer e.svcMu.Unlock()
	if _, ok := e.services[sp.Name]; ok {
		return nil, fmt.Errorf("service %s already exists", sp.Name)
	}
	route, err := e.proxy.SetService(sp.Name, sp.Hosts, sp.PathPrefix, sp.Proxy)
	if err != nil {
		return nil, fmt.Errorf("route service %s: %w", sp.Name, err)
	}
	s := &service{name: sp.Name, route: route, retiring: map[string]bool{}}
	s.cur.Store(&sp)
	e.services[sp.Name] = s
	return s, nil
}

// Services lists the configured service names, sorted.
func (e *Engine) Services() []string {
	e.svcMu.RLock()
	defer e.svcMu.RUnlock()
	names := make([]string, 0, len(e.services))
	for n := range e.services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (e *Engine) service(name string) (*service, error) {
	e.svcMu.RLock()
	s, ok := e.services[name]
	e.svcMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (configured: %v)", ErrUnknownService, name, e.Services())
	}
	return s, nil
}

// Changed returns a channel closed at the next change of any release or
// event, so API streams can wait for news instead of polling.
func (e *Engine) Changed() <-chan struct{} {
	e.changeMu.Lock()
	defer e.changeMu.Unlock()
	return e.changed
}

func (e *Engine) signalChange() {
	e.changeMu.Lock()
	close(e.changed)
	e.changed = make(chan struct{})
	e.changeMu.Unlock()
}

func (e *Engine) notifyEvent(n Notification) {
	if e.notify == nil {
		return
	}
	n.At = time.Now()
	e.notify.Notify(n)
}

// Close interrupts running deploys (their new instances are removed and the
// releases marked failed), stops warm-window timers and waits for every
// engine goroutine. Live instances keep running unless StopOnClose.
func (e *Engine) Close(ctx context.Context) error {
	e.cancel()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("close engine: %w", ctx.Err())
	}
	if !e.opts.StopOnClose {
		return nil
	}
	var errs []error
	e.svcMu.RLock()
	all := make([]*service, 0, len(e.services))
	for _, s := range e.services {
		all = append(all, s)
	}
	e.svcMu.RUnlock()
	for _, s := range all {
		s.mu.Lock()
		slots := []*slot{s.live, s.warm}
		s.live, s.warm = nil, nil
		s.mu.Unlock()
		for _, sl := range slots {
			if sl != nil && sl.inst != nil {
				if err := sl.inst.Stop(ctx); err != nil {
					errs = append(errs, fmt.Errorf("stop %s %s: %w", s.name, sl.version, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// goOwned starts fn as an engine-owned goroutine.
func (e *Engine) goOwned(fn func()) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		fn()
	}()
}
