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

// Restart backoff for a live instance that keeps exiting: a crash loop must
// not turn into a fork bomb, and a one-off crash must come back at once.
const (
	restartMin = 0 * time.Second
	restartMax = 1 * time.Minute
	// restartReset: a replacement that served this long resets the backoff.
	restartReset = 2 * time.Minute
)

// watchLocked supervises a slot that just became live: if its instance
// exits, or its health watcher finds it failing HealthyThreshold
// consecutive checks, while it is still live, the same version is started
// again, gated on health and swapped in through the cutover (whose new
// slot gets a supervisor of its own). Called with s.mu held, once per slot
// that becomes live.
func (e *Engine) watchLocked(s *service, sl *slot) {
	e.watchHealthLocked(s, sl)
	e.goOwned(func() { e.supervise(s, sl) })
}

func (e *Engine) supervise(s *service, sl *slot) {
	var how string
	select {
	case <-sl.inst.Done():
		how = "unknown"
		if ex, ok := sl.inst.Exit(); ok {
			how = ex.String()
		}
		how = "exited (" + how + ")"
	case <-sl.failing:
		how = "fails its health check (" + sl.healthState().reason + ")"
	case <-e.ctx.Done():
		return
	}
	if !s.isLive(sl) {
		return // replaced or being retired: its exit is expected
	}
	backoff := sl.backoff
	if time.Since(sl.since) > restartReset {
		backoff = restartMin
	}
	e.event(sl.rel, "supervise", release.LevelError,
		fmt.Sprintf("live instance of %s %s; starting it again in %s", sl.version, how, backoff), 0)
	e.log.Error("live instance lost", "service", s.spec().Name, "version", sl.version, "how", how)
	e.notifyEvent(Notification{Kind: "failed", Service: s.spec().Name, Version: sl.version, ReleaseID: sl.rel,
		Actor: "supervisor", Reason: "live instance " + how, Automatic: true})
	e.restartLoop(s, sl, backoff)
}

// restartLoop starts the lost live instance's version again, with growing
// backoff, until it is healthy and swapped in or the slot is no longer live.
func (e *Engine) restartLoop(s *service, dead *slot, backoff time.Duration) {
	for {
		select {
		case <-time.After(backoff):
		case <-e.ctx.Done():
			return
		}
		next := min(max(2*backoff, time.Second), restartMax)
		inst, spec, err := e.restartLive(s, dead)
		if err == nil {
			_, cerr := e.cutover(s, move{rel: dead.rel, version: dead.version, inst: inst, spec: &spec, from: dead, removeOld: true, backoff: next})
			if cerr == nil {
				e.event(dead.rel, "supervise", release.LevelInfo, fmt.Sprintf("%s serving again at %s", dead.version, inst.Addr()), 0)
				return
			}
			// A deploy took over meanwhile (stale), or the switch could not
			// be recorded: this instance never serves.
			e.removeInstance(context.Background(), inst, dead.rel)
			if errors.Is(cerr, errStale) {
				return
			}
			err = cerr
		}
		if !s.isLive(dead) {
			return
		}
		e.event(dead.rel, "supervise", release.LevelError, fmt.Sprintf("restart of %s failed: %v; next try in %s", dead.version, firstLine(err.Error()), next), 0)
		backoff = next
	}
}

// restartLive starts the live version again (with the service's current
// configuration, returned) and gates it on health.
func (e *Engine) restartLive(s *service, sl *slot) (rt.Instance, instanceSpec, error) {
	sp := s.spec()
	ctx, cancel := context.WithTimeout(e.ctx, sp.Health.Deadline+stopTimeout)
	defer cancel()
	step := time.Now()
	inst, err := e.startGated(ctx, sp, sl.version, sl.rel)
	if err != nil {
		return nil, instanceSpec{}, err
	}
	e.event(sl.rel, "supervise", release.LevelInfo, fmt.Sprintf("%s healthy again at %s", sl.version, inst.Addr()), time.Since(step))
	return inst, sp.currentSpec(), nil
}

// startGated starts version for release rel with sp and waits for it to
// pass sp's health check; an instance that does not is removed.
func (e *Engine) startGated(ctx context.Context, sp *ServiceSpec, version string, rel int64) (rt.Instance, error) {
	inst, err := sp.Runtime.Start(ctx, rt.Spec{Version: version, ReleaseID: rel})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", version, err)
	}
	if err := health.WaitHealthy(ctx, inst.Addr(), sp.Health, inst.Done(), nil); err != nil {
		derr := e.diagnose(inst, "health", err)
		e.removeInstance(context.Background(), inst, rel)
		return nil, derr
	}
	return inst, nil
}
