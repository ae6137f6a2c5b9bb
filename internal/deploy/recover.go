package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hotswap/hotswap/internal/release"
	rt "github.com/hotswap/hotswap/internal/runtime"
)

// Recover puts each service's live version back in service after the daemon
// (re)starts — re-adopting the instance that still runs, or starting it
// again — and cleans up what an interrupted deploy left behind. The daemon
// calls it before its proxy accepts traffic. A service that cannot be
// recovered is reported and left without a live version (the proxy answers
// 503 for it); the others still recover.
func (e *Engine) Recover(ctx context.Context) error {
	var errs []error
	for _, name := range e.Services() {
		s, err := e.service(name)
		if err != nil {
			continue
		}
		if err := e.recoverService(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("recover %s: %w", name, err))
			e.log.Error("recover service", "service", name, "err", err)
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) recoverService(ctx context.Context, s *service) error {
	name := s.spec().Name
	sp := s.spec()
	// 1. Deploys the previous daemon did not finish: their instances never
	// served; remove them.
	stale, err := e.store.ByState(ctx, name, release.Queued, release.Deploying)
	if err != nil {
		return fmt.Errorf("list interrupted releases: %w", err)
	}
	for _, r := range stale {
		if r.InstanceID != "" {
			e.removeByID(ctx, s, r.InstanceID, r.ID)
		}
		state := release.Failed
		if r.State == release.Queued {
			state = release.Aborted
		}
		e.fail(r.ID, state, "interrupted: the daemon restarted before this "+string(r.Kind)+" finished; nothing it started is left")
	}

	// 2. The live version.
	live, err := e.store.Live(ctx, name)
	if errors.Is(err, release.ErrNotFound) {
		live = nil
	} else if err != nil {
		return fmt.Errorf("find live release: %w", err)
	}
	keepIDs := map[string]bool{}
	var later []func() // slow work, started once the cleanup below cannot touch it
	if live != nil {
		spec := decodeSpec(live.Spec, sp.currentSpec())
		var inst rt.Instance
		if live.InstanceID != "" {
			if i, err := sp.Runtime.Adopt(ctx, live.InstanceID); err == nil && !rt.Stopped(i) {
				inst = i
			}
		}
		if inst != nil {
			// Re-adopted as it is, without a probe: the proxy serves at
			// once, and the health watcher judges the instance by the check
			// it was started with, not by an edited file.
			keepIDs[inst.ID()] = true
			if _, err := e.cutover(s, move{rel: live.ID, version: live.Version, inst: inst, spec: &spec, unprobed: true}); err != nil {
				return fmt.Errorf("route live %s: %w", live.Version, err)
			}
			e.event(live.ID, "recover", release.LevelInfo, fmt.Sprintf("%s back in service after daemon start (re-adopted the running instance, %s)", live.Version, inst.Addr()), 0)
			if spec.Fingerprint != sp.Fingerprint {
				later = append(later, func() { e.rolloutConfig(s, live) })
			}
		} else if inst := e.restartRecovered(ctx, s, live); inst != nil {
			// Started before the proxy listens: connections wait in the
			// kernel's accept queue rather than get 503 from a service
			// that has nothing to serve with yet.
			keepIDs[inst.ID()] = true
		}
	}

	// 3. Warm previous versions: keep the newest one warm for the rest of
	// its window, retire the others.
	warms, err := e.store.ByState(ctx, name, release.Warm)
	if err != nil {
		return fmt.Errorf("list warm releases: %w", err)
	}
	for i, w := range warms {
		var inst rt.Instance
		if w.InstanceID != "" {
			inst, _ = sp.Runtime.Adopt(ctx, w.InstanceID)
		}
		since := w.FinishedAt
		if live != nil && !live.FinishedAt.IsZero() {
			since = live.FinishedAt
		}
		running := inst != nil && !rt.Stopped(inst)
		if i == 0 && running && live != nil && time.Since(since) < sp.WarmFor {
			keepIDs[inst.ID()] = true
			t, err := s.route.NewTarget(w.Version, inst.Addr())
			if err != nil {
				return fmt.Errorf("route warm %s: %w", w.Version, err)
			}
			sl := newSlot(w.ID, w.Version, decodeSpec(w.Spec, sp.currentSpec()), inst, t)
			sl.since = since
			sl.health.reason, sl.health.checked = notChecked, time.Time{}
			s.cut.Lock()
			s.mu.Lock()
			s.warm = sl
			e.watchWarmLocked(s, sl)
			e.watchHealthLocked(s, sl)
			s.mu.Unlock()
			s.cut.Unlock()
			continue
		}
		if running {
			stopCtx, cancel := context.WithTimeout(ctx, stopTimeout)
			if err := inst.Stop(stopCtx); err != nil {
				e.event(w.ID, "stop", release.LevelError, "stop after restart: "+err.Error(), 0)
			}
			cancel()
		}
		e.setState(w.ID, release.Retired, "warm window ended while the daemon was down")
	}

	// 4. Anything else the runtime can find of this service that no release
	// keeps (a container created just before a crash) is removed, and the
	// instances recorded on replaced releases are stopped: a version still
	// draining when the daemon died is running with nobody to stop it (a
	// process runtime cannot list its instances, so the records must say).
	ids, err := sp.Runtime.List(ctx)
	if err != nil {
		return fmt.Errorf("list instances: %w", err)
	}
	retained, err := e.retainedIDs(ctx, s)
	if err != nil {
		return err
	}
	for id := range retained {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if keepIDs[id] {
			continue
		}
		if retained[id] {
			// Kept, stopped, for a fast rollback.
			if inst, err := sp.Runtime.Adopt(ctx, id); err == nil && !rt.Stopped(inst) {
				stopCtx, cancel := context.WithTimeout(ctx, stopTimeout)
				_ = inst.Stop(stopCtx) // best effort; reported by the next retain
				cancel()
			}
			continue
		}
		e.removeByID(ctx, s, id, 0)
	}
	for _, fn := range later {
		e.goOwned(fn)
	}
	return nil
}

// restartRecovered starts the live version again when its instance did not
// survive the restart, gates it on health and puts it in service. It
// returns the instance, or nil (reported) when it could not.
func (e *Engine) restartRecovered(ctx context.Context, s *service, live *release.Release) rt.Instance {
	e.event(live.ID, "recover", release.LevelWarn, "the live instance is gone after the daemon restart; starting "+live.Version+" again", 0)
	sp := s.spec()
	ctx, cancel := context.WithTimeout(ctx, sp.Health.Deadline+stopTimeout)
	defer cancel()
	inst, err := e.startGated(ctx, sp, live.Version, live.ID)
	if err != nil {
		e.event(live.ID, "recover", release.LevelError, "could not put "+live.Version+" back in service: "+err.Error(), 0)
		e.log.Error("recover live version", "service", sp.Name, "version", live.Version, "err", firstLine(err.Error()))
		return nil
	}
	spec := sp.currentSpec()
	if _, err := e.cutover(s, move{rel: live.ID, version: live.Version, inst: inst, spec: &spec, fromNone: true}); err != nil {
		e.removeInstance(context.Background(), inst, live.ID)
		if !errors.Is(err, errStale) {
			e.event(live.ID, "recover", release.LevelError, err.Error(), 0)
		}
		return nil
	}
	e.event(live.ID, "recover", release.LevelInfo, fmt.Sprintf("%s back in service after daemon start (started it again, %s)", live.Version, inst.Addr()), 0)
	return inst
}

// rolloutConfig rolls a configuration that changed while the daemon was
// down out to the live version: a release of kind config, health-gated with
// the new check like any deploy. If it fails, the re-adopted instance keeps
// serving and the release says why.
func (e *Engine) rolloutConfig(s *service, live *release.Release) {
	_, err := e.Submit(e.ctx, Request{Service: s.spec().Name, Version: live.Version, Kind: KindConfig, Queue: true,
		Note:   "the service's configuration changed since this instance started",
		Source: release.Source{Kind: release.SourceAuto, Actor: "config"}})
	if err != nil {
		e.event(live.ID, "recover", release.LevelError, "could not roll out the changed configuration: "+err.Error(), 0)
	}
}

func (e *Engine) removeByID(ctx context.Context, s *service, id string, rel int64) {
	inst, err := s.spec().Runtime.Adopt(ctx, id)
	if errors.Is(err, rt.ErrNotFound) {
		return
	}
	if err != nil {
		e.log.Error("adopt leftover", "service", s.spec().Name, "instance", id, "err", err)
		return
	}
	e.removeInstance(ctx, inst, rel)
}

func (e *Engine) removeInstance(ctx context.Context, inst rt.Instance, rel int64) {
	rctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	err := inst.Remove(rctx)
	msg := "removed leftover " + shortID(inst.ID())
	if err != nil {
		msg = "remove leftover " + shortID(inst.ID()) + ": " + err.Error()
	}
	if rel != 0 {
		e.event(rel, "cleanup", release.LevelInfo, msg, 0)
	}
	e.log.Info(msg)
}

// fail moves a release to a failure state with a reason, from any context.
func (e *Engine) fail(rel int64, state release.State, why string) {
	e.record(rel, func(r *release.Release) {
		r.State = state
		r.Error = why
		r.FinishedAt = time.Now()
	})
	e.event(rel, "done", release.LevelError, why, 0)
}
