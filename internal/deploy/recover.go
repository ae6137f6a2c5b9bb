package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotswap/hotswap/internal/health"
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
		if err := e.recoverService(ctx, e.services[name]); err != nil {
			errs = append(errs, fmt.Errorf("recover %s: %w", name, err))
			e.log.Error("recover service", "service", name, "err", err)
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) recoverService(ctx context.Context, s *service) error {
	name := s.spec.Name
	sp := s.spec
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
	if live != nil {
		inst, how, err := e.adoptOrStart(ctx, s, live)
		if err != nil {
			e.event(live.ID, "recover", release.LevelError, "could not put "+live.Version+" back in service: "+err.Error(), 0)
			return fmt.Errorf("live %s: %w", live.Version, err)
		}
		keepIDs[inst.ID()] = true
		if _, err := e.cutover(s, move{rel: live.ID, version: live.Version, inst: inst}); err != nil {
			return fmt.Errorf("route live %s: %w", live.Version, err)
		}
		e.event(live.ID, "recover", release.LevelInfo, fmt.Sprintf("%s back in service after daemon start (%s, %s)", live.Version, how, inst.Addr()), 0)
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
			sl := newSlot(w.ID, w.Version, inst, t)
			sl.since = since
			s.cut.Lock()
			s.mu.Lock()
			s.warm = sl
			e.watchWarmLocked(s, sl)
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
	// keeps (a container created just before a crash) is removed.
	ids, err := sp.Runtime.List(ctx)
	if err != nil {
		return fmt.Errorf("list instances: %w", err)
	}
	retained, err := e.retainedIDs(ctx, s)
	if err != nil {
		return err
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
	return nil
}

// adoptOrStart finds the live instance again, or starts the version anew,
// and gates it on health either way.
func (e *Engine) adoptOrStart(ctx context.Context, s *service, r *release.Release) (rt.Instance, string, error) {
	sp := s.spec
	if r.InstanceID != "" {
		inst, err := sp.Runtime.Adopt(ctx, r.InstanceID)
		if err == nil && !rt.Stopped(inst) {
			quick := sp.Health
			quick.HealthyThreshold = 1
			if err := health.WaitHealthy(ctx, inst.Addr(), quick, inst.Done(), nil); err == nil {
				return inst, "re-adopted the running instance", nil
			}
			e.event(r.ID, "recover", release.LevelWarn, "the running instance does not pass its health check; starting a new one", 0)
			e.removeInstance(ctx, inst, r.ID)
		}
	}
	inst, err := sp.Runtime.Start(ctx, rt.Spec{Version: r.Version, ReleaseID: r.ID})
	if err != nil {
		return nil, "", fmt.Errorf("start %s: %w", r.Version, err)
	}
	if err := health.WaitHealthy(ctx, inst.Addr(), sp.Health, inst.Done(), nil); err != nil {
		derr := e.diagnose(inst, "health", err)
		e.removeInstance(ctx, inst, r.ID)
		return nil, "", derr
	}
	e.record(r.ID, func(rr *release.Release) { rr.InstanceID, rr.Addr = inst.ID(), inst.Addr() })
	return inst, "started it again", nil
}

func (e *Engine) removeByID(ctx context.Context, s *service, id string, rel int64) {
	inst, err := s.spec.Runtime.Adopt(ctx, id)
	if errors.Is(err, rt.ErrNotFound) {
		return
	}
	if err != nil {
		e.log.Error("adopt leftover", "service", s.spec.Name, "instance", id, "err", err)
		return
	}
	e.removeInstance(ctx, inst, rel)
}

func (e *Engine) removeInstance(ctx context.Context, inst rt.Instance, rel int64) {
	rctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	err := inst.Remove(rctx)
	msg := "removed leftover instance " + shortID(inst.ID())
	if err != nil {
		msg = "remove leftover instance " + shortID(inst.ID()) + ": " + err.Error()
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
