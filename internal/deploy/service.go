package deploy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotswap/hotswap/internal/proxy"
	"github.com/hotswap/hotswap/internal/release"
	rt "github.com/hotswap/hotswap/internal/runtime"
)

// slot is one running version the engine holds for a service: the live one
// or the warm previous one.
type slot struct {
	rel     int64 // release row that owns this instance
	version string
	spec    instanceSpec // what inst was started with
	inst    rt.Instance
	target  *proxy.Target
	since   time.Time

	drainOnce sync.Once
	drained   chan struct{} // closed when target's drain has finished
	// earlier are the drains of targets this slot's instance served through
	// before it (a warm instance taken over by a rollback keeps answering
	// its old target's streams): the instance stops only after them too.
	// Set before the slot is shared.
	earlier []chan struct{}

	stopWarm chan struct{} // closed to cancel the warm-window timer; guarded by service.mu
	backoff  time.Duration // restart delay if this live instance is lost; set before it is shared

	// Health watching (watch.go): the watcher goroutine writes health under
	// hmu; failing is closed once when a watched instance turns unhealthy;
	// unwatch (guarded by service.mu) stops the watcher.
	hmu     sync.Mutex
	health  healthState
	failing chan struct{}
	unwatch context.CancelFunc
}

func newSlot(rel int64, version string, spec instanceSpec, inst rt.Instance, t *proxy.Target) *slot {
	return &slot{rel: rel, version: version, spec: spec, inst: inst, target: t, since: time.Now(), drained: make(chan struct{}),
		failing: make(chan struct{}), health: healthState{healthy: true, reason: "passed its health check", since: time.Now(), checked: time.Now()}}
}

// service is the engine's per-service state.
type service struct {
	cur   atomic.Pointer[ServiceSpec] // the configuration; replaced whole by a reload
	route *proxy.Service
	name  string

	// cut is the owner of traffic moves: every change of live or warm (the
	// cutover, the warm window's end, recovery) holds it from its check to
	// its install, across the store write, so moves never interleave. It is
	// taken before mu, never while holding mu.
	cut sync.Mutex

	mu        sync.Mutex  // guards every field below; held only for reads and the install
	live      *slot       // serving traffic (nil before the first deploy)
	warm      *slot       // replaced, still running until warmTimer fires
	warmTimer *time.Timer // retires warm; nil when there is none
	active    *deployment // the deploy or rollback in progress, or nil
	queue     []*deployment
	retiring  map[string]bool // instance IDs being drained and stopped; retention must not touch them
	removed   bool            // taken out of the configuration by a reload: refuses new work
}

// spec is the service's configuration as of now. A reload replaces it
// whole; a reader that needs several fields consistent takes it once.
func (s *service) spec() *ServiceSpec { return s.cur.Load() }

// heldLocked reports whether the engine holds the instance: serving, warm,
// or still draining on its way out. Called with s.mu held.
func (s *service) heldLocked(id string) bool {
	return (s.live != nil && s.live.inst.ID() == id) || (s.warm != nil && s.warm.inst.ID() == id) || s.retiring[id]
}

// Kinds of action a deployment performs.
const (
	KindDeploy   = release.KindDeploy
	KindRollback = release.KindRollback
	KindConfig   = release.KindConfig
)

// Request asks for a deploy (or, with Kind rollback, a rollback).
type Request struct {
	Service string
	Version string       // "" on rollback = the previous good release
	Kind    release.Kind // KindDeploy (default) or KindRollback
	Note    string
	Commit  string
	Author  string
	Source  release.Source
	// Queue waits behind a running deploy (webhooks) instead of being
	// refused with ErrBusy (CLI and API default).
	Queue bool
	// Hold stops after the new version is healthy and reachable by preview
	// requests, until Promote or Abort.
	Hold bool
}

// Submit validates a request and starts (or queues) it. It returns at once
// with the release that tracks it; follow it with Wait or the store's
// events. Nothing changes when it returns an error.
func (e *Engine) Submit(ctx context.Context, req Request) (*release.Release, error) {
	r, _, err := e.submit(ctx, req)
	return r, err
}

// SubmitIdempotent is Submit for deliveries that may arrive twice (webhooks):
// a request whose Source.DeliveryID was seen before returns that release and
// duplicate=true, and starts nothing.
func (e *Engine) SubmitIdempotent(ctx context.Context, req Request) (*release.Release, bool, error) {
	return e.submit(ctx, req)
}

func (e *Engine) submit(ctx context.Context, req Request) (*release.Release, bool, error) {
	if e.ctx.Err() != nil {
		return nil, false, ErrClosed
	}
	s, err := e.service(req.Service)
	if err != nil {
		return nil, false, err
	}
	if req.Kind == "" {
		req.Kind = KindDeploy
	}
	if req.Kind == KindDeploy || req.Version != "" {
		if err := s.spec().Versions.Validate(req.Version); err != nil {
			return nil, false, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return nil, false, fmt.Errorf("%w %q: removed from the configuration", ErrUnknownService, req.Service)
	}
	var restored *release.Release
	if req.Kind == KindRollback {
		if s.active != nil && s.active.kind != KindRollback {
			// A rollback at any moment: it ends the running deployment.
			if r, done, err := e.endForRollbackLocked(ctx, s, req); done || err != nil {
				return r, false, err
			}
			req.Queue = true // runs as soon as the ended deployment has let go
		}
		v, err := e.rollbackTarget(ctx, s, req.Version)
		if err != nil {
			return nil, false, err
		}
		req.Version = v
		restored = e.restoredRelease(ctx, s, v)
	}
	if s.active != nil && !req.Queue {
		return nil, false, fmt.Errorf("%w: %s %s (release #%d) started %s ago; wait for it or abort it",
			ErrBusy, s.active.kind, s.active.version, s.active.rel, time.Since(s.active.started).Round(time.Second))
	}
	rel := e.rowLocked(s, req, restored)
	if req.Source.DeliveryID != "" {
		existing, created, err := e.store.CreateReleaseIdempotent(ctx, rel)
		if err != nil {
			return nil, false, fmt.Errorf("record release: %w", err)
		}
		if !created {
			return existing, true, nil
		}
		rel = existing
	} else if err := e.store.CreateRelease(ctx, rel); err != nil {
		return nil, false, fmt.Errorf("record release: %w", err)
	}
	d := newDeployment(rel, req)
	if s.active != nil {
		// A newer version supersedes every older one waiting in the queue.
		for _, old := range s.queue {
			e.event(old.rel, "queue", release.LevelWarn, fmt.Sprintf("superseded by %s (release #%d)", rel.Version, rel.ID), 0)
		}
		if _, err := e.store.SupersedeQueued(ctx, s.spec().Name, rel.ID,
			fmt.Sprintf("superseded by %s (release #%d)", rel.Version, rel.ID)); err != nil {
			e.log.Error("supersede queued releases", "service", s.spec().Name, "err", err)
		}
		s.queue = []*deployment{d}
		e.event(rel.ID, "queue", release.LevelInfo, fmt.Sprintf("queued behind %s %s (release #%d)", s.active.kind, s.active.version, s.active.rel), 0)
		e.signalChange()
		return rel, false, nil
	}
	e.startLocked(s, d)
	return rel, false, nil
}

// rowLocked is the release row a request creates. A rollback release
// carries what it restores: its commit, author and image. Called with s.mu
// held.
func (e *Engine) rowLocked(s *service, req Request, restored *release.Release) *release.Release {
	rel := &release.Release{
		Service: req.Service, Version: req.Version, Kind: req.Kind, State: release.Queued,
		Strategy: s.spec().Progressive.strategyName(), Source: req.Source,
		Note: req.Note, GitCommit: req.Commit, Author: req.Author,
	}
	if s.live != nil {
		rel.PreviousID = s.live.rel
	}
	if restored != nil {
		rel.GitCommit, rel.Author = orDefault(rel.GitCommit, restored.GitCommit), orDefault(rel.Author, restored.Author)
		rel.ImageRef, rel.ImageDigest = restored.ImageRef, restored.ImageDigest
	}
	return rel
}

// endForRollbackLocked ends the active deployment for a rollback request.
// When the deployment's version never took all the traffic (health gate,
// held preview, canary) and the rollback names no other version, ending it
// is the whole rollback: done is true and the ended release is returned.
// Otherwise the rollback is queued to run as soon as the deployment let go.
// Called with s.mu held.
func (e *Engine) endForRollbackLocked(ctx context.Context, s *service, req Request) (*release.Release, bool, error) {
	a := s.active
	who := orDefault(req.Source.Actor, string(req.Source.Kind))
	if req.Version != "" && (s.live == nil || req.Version != s.live.version) && (s.warm == nil || req.Version != s.warm.version) {
		// Bad input changes nothing: a version that never went live is
		// refused before anything is ended.
		if err := e.wentLive(ctx, s, req.Version); err != nil {
			return nil, false, err
		}
	}
	switched := s.live != nil && s.live.rel == a.rel
	if !switched && (req.Version == "" || (s.live != nil && req.Version == s.live.version)) {
		stays := "nothing"
		if s.live != nil {
			stays = s.live.version
		}
		why := fmt.Sprintf("rolled back by %s while %s %s was not yet live; all traffic is on %s", who, a.kind, a.version, stays)
		a.endLocked(why)
		e.event(a.rel, "rollback", release.LevelWarn, why, 0)
		r, err := e.store.GetRelease(ctx, a.rel)
		return r, true, err
	}
	a.endLocked(fmt.Sprintf("rollback requested by %s", who))
	e.event(a.rel, "rollback", release.LevelWarn, fmt.Sprintf("rollback requested by %s: ending %s %s now", who, a.kind, a.version), 0)
	return nil, false, nil
}

// restoredRelease is the release whose version a rollback restores: the
// warm one, else the last that went live. nil when unknown.
func (e *Engine) restoredRelease(ctx context.Context, s *service, v string) *release.Release {
	if s.warm != nil && s.warm.version == v {
		if r, err := e.store.GetRelease(ctx, s.warm.rel); err == nil {
			return r
		}
	}
	r, err := e.store.FindVersion(ctx, s.spec().Name, v)
	if err != nil {
		return nil
	}
	return r
}

// rollbackTarget resolves the version a rollback goes to. Called with s.mu held.
func (e *Engine) rollbackTarget(ctx context.Context, s *service, v string) (string, error) {
	liveVersion := ""
	if s.live != nil {
		liveVersion = s.live.version
	}
	if v == "" {
		if s.warm != nil {
			return s.warm.version, nil
		}
		prev, err := e.store.LastGood(ctx, s.spec().Name, liveVersion)
		if errors.Is(err, release.ErrNotFound) {
			return "", fmt.Errorf("%w for %s", ErrNoPrevious, s.spec().Name)
		}
		if err != nil {
			return "", fmt.Errorf("find previous release: %w", err)
		}
		return prev.Version, nil
	}
	if v == liveVersion {
		return "", fmt.Errorf("%w: %s %s", ErrAlreadyLive, s.spec().Name, v)
	}
	if err := e.wentLive(ctx, s, v); err != nil {
		return "", err
	}
	return v, nil
}

// wentLive refuses a rollback to a version that never went live.
func (e *Engine) wentLive(ctx context.Context, s *service, v string) error {
	if _, err := e.store.FindVersion(ctx, s.spec().Name, v); err != nil {
		if errors.Is(err, release.ErrNotFound) {
			return fmt.Errorf("%w: %s %s has no release that went live; deploy it instead", ErrNeverDeployed, s.spec().Name, v)
		}
		return fmt.Errorf("find release %s: %w", v, err)
	}
	return nil
}

// startLocked launches d as the active deployment. Called with s.mu held.
func (e *Engine) startLocked(s *service, d *deployment) {
	d.ctx, d.cancel = context.WithCancel(e.ctx)
	s.active = d
	e.goOwned(func() { e.run(s, d) })
}

// finish clears the active deployment and starts the next queued one.
func (e *Engine) finish(s *service, d *deployment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == d {
		s.active = nil
	}
	if len(s.queue) > 0 && e.ctx.Err() == nil {
		next := s.queue[0]
		s.queue = s.queue[1:]
		if s.live != nil {
			next.previous = s.live.rel
		}
		e.startLocked(s, next)
	}
	e.signalChange()
}

// hasLive reports whether a version serves (a canary needs one to share with).
func (s *service) hasLive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live != nil
}

// isLive reports whether sl is still the service's live slot.
func (s *service) isLive(sl *slot) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live == sl
}
