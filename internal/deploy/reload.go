package deploy

import (
	"context"
	"fmt"
	"slices"

	"github.com/hotswap/hotswap/internal/release"
	"github.com/hotswap/hotswap/internal/version"
)

// A reload (daemon.Reload) validates the whole new configuration first and
// then applies it service by service through the three calls below. They
// never touch a service whose configuration did not change, so its
// connections and streams are not disturbed.

// UpdateService applies a reloaded configuration to a running service.
// Routes and proxy options change at once (the proxy keeps the service's
// targets, so no connection is touched); drain, warm window, hooks, canary,
// analysis and the version rule apply from the next deploy on. When what
// defines an instance changed (Fingerprint), the live version is rolled
// out again as a health-gated release of kind config, returned here (nil
// when none is needed): a wrong health path or env is refused while the
// old instance keeps serving. A deploy in progress finishes first.
func (e *Engine) UpdateService(ctx context.Context, sp ServiceSpec) (*release.Release, error) {
	s, err := e.service(sp.Name)
	if err != nil {
		return nil, err
	}
	if sp.Versions == nil {
		sp.Versions = version.Default
	}
	if sp.KeepReleases <= 0 {
		sp.KeepReleases = 5
	}
	old := s.spec()
	if !slices.Equal(old.Hosts, sp.Hosts) || old.PathPrefix != sp.PathPrefix || old.Proxy != sp.Proxy {
		if _, err := e.proxy.SetService(sp.Name, sp.Hosts, sp.PathPrefix, sp.Proxy); err != nil {
			return nil, fmt.Errorf("route service %s: %w", sp.Name, err)
		}
	}
	s.cur.Store(&sp)
	if old.Fingerprint == sp.Fingerprint {
		return nil, nil
	}
	s.mu.Lock()
	live := s.live
	s.mu.Unlock()
	if live == nil {
		return nil, nil // nothing runs: the next deploy starts with the new configuration
	}
	return e.Submit(ctx, Request{Service: sp.Name, Version: live.version, Kind: KindConfig, Queue: true,
		Note:   "the service's configuration was reloaded",
		Source: release.Source{Kind: release.SourceAuto, Actor: "reload"}})
}

// RemoveService takes a service out: new requests for its hosts get 404 at
// once, a deploy in progress ends, and its live and warm instances are
// drained (requests and streams in flight get DrainTimeout) and stopped in
// the background; their releases retire.
func (e *Engine) RemoveService(ctx context.Context, name string) error {
	s, err := e.service(name)
	if err != nil {
		return err
	}
	const why = "the service was removed from the configuration"
	s.mu.Lock()
	s.removed = true
	active, queued := s.active, s.queue
	s.queue = nil
	if active != nil {
		active.endLocked(why)
	}
	s.mu.Unlock()
	for _, q := range queued {
		e.fail(q.rel, release.Aborted, why)
	}
	e.svcMu.Lock()
	delete(e.services, name)
	e.svcMu.Unlock()
	e.proxy.RemoveService(name)
	for {
		ch := e.Changed()
		s.mu.Lock()
		busy := s.active != nil
		s.mu.Unlock()
		if !busy {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("remove %s: the running deploy did not end: %w", name, ctx.Err())
		}
	}
	s.cut.Lock()
	s.mu.Lock()
	live, warm := s.live, s.stopWarmLocked()
	s.live = nil
	for _, sl := range []*slot{live, warm} {
		if sl != nil {
			sl.unwatchLocked()
		}
	}
	s.mu.Unlock()
	s.cut.Unlock()
	for _, sl := range []*slot{live, warm} {
		if sl != nil {
			e.goOwned(func() { e.retire(s, sl, release.Retired, why) })
		}
	}
	return nil
}
