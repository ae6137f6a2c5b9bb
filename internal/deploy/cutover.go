package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotswap/hotswap/internal/health"
	"github.com/hotswap/hotswap/internal/proxy"
	"github.com/hotswap/hotswap/internal/release"
	rt "github.com/hotswap/hotswap/internal/runtime"
)

// move is one change of what serves a service, as every path asks for it:
// a deploy's switch, a warm or cold rollback, an automatic rollback, a
// supervisor replacement, a recovery after restart.
type move struct {
	rel     int64 // the release that owns the new live slot
	version string
	inst    rt.Instance
	spec    *instanceSpec // what inst was started with; nil: the current configuration
	target  *proxy.Target // already carrying a canary share; nil: cutover makes one for inst

	// demote is what the replaced live release becomes (Warm, Retired,
	// RolledBack); unused when rel already owns the live slot.
	demote release.State
	// from is the live slot this move replaces: if another move replaced
	// it meanwhile, this one is stale and changes nothing. nil: whatever
	// is live (a deploy, which holds the service's deployment).
	from *slot
	// unprobed: the instance was re-adopted without a probe; status says
	// so until its health watcher reaches a verdict.
	unprobed bool
	// fromNone: only if nothing is live (a recovery that had to start the
	// version again must not replace a deploy that got there first).
	fromNone bool
	// takeOver is the warm slot whose instance rel takes over (a rollback
	// onto the warm version); it must still be warm.
	takeOver *slot
	// backoff is the restart delay the new slot's supervisor starts from
	// (a supervisor replacement passes its grown backoff on).
	backoff time.Duration
	// removeOld removes the replaced instance for good instead of keeping
	// it (a dead instance the supervisor replaces).
	removeOld bool
}

// errStale: the slot a move meant to replace is no longer there.
var errStale = errors.New("the service changed meanwhile")

// cutover is the one function that moves a service's traffic. Its order is
// the one ARCHITECTURE.md writes down:
//
//  1. build: the proxy target for the healthy new instance (outside locks);
//  2. take s.cut, the owner of traffic moves, and check the move is not stale;
//  3. record: one store transaction says the new release is live with this
//     instance. If it fails nothing has moved: the caller gets the error,
//     traffic stays where it was;
//  4. install: swap the proxy pointer and the engine's slots under s.mu
//     (microseconds; the swap cannot fail);
//  5. release s.cut, then drain and retire the replaced instance outside
//     every lock.
//
// A crash between 3 and 4 restarts onto the record, which names a healthy,
// running instance: traffic and record never disagree after a restart, and
// while the daemon runs they disagree only for the length of a pointer swap
// that cannot fail. It returns the new live slot.
func (e *Engine) cutover(s *service, m move) (*slot, error) {
	t := m.target
	if t == nil {
		var err error
		if t, err = s.route.NewTarget(m.version, m.inst.Addr()); err != nil {
			return nil, &failure{step: "switch", err: err}
		}
	}
	forget := func() {
		if m.target == nil { // ours, never served: let the proxy forget it
			e.goOwned(func() { _ = t.Drain(context.Background()) })
		}
	}
	s.cut.Lock()
	s.mu.Lock()
	old, warm := s.live, s.warm
	s.mu.Unlock()
	if (m.from != nil && old != m.from) || (m.fromNone && old != nil) || (m.takeOver != nil && warm != m.takeOver) {
		s.cut.Unlock()
		forget()
		return nil, errStale
	}
	demote := m.demote
	keepWarm := demote == release.Warm && s.spec().WarmFor > 0 && old != nil && old.rel != m.rel
	if demote == release.Warm && !keepWarm {
		demote = release.Retired
	}
	spec := s.spec().currentSpec()
	if m.spec != nil {
		spec = *m.spec
	}
	sw := release.Switch{Release: m.rel, InstanceID: m.inst.ID(), Addr: m.inst.Addr(), Spec: spec.encode(), Demote: demote}
	if m.takeOver != nil {
		sw.TakeOver = m.takeOver.rel
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	_, err := e.store.RecordSwitch(ctx, sw)
	cancel()
	if err != nil {
		s.cut.Unlock()
		forget()
		where := "nothing"
		if old != nil {
			where = old.version
		}
		return nil, &failure{step: "record", err: fmt.Errorf("could not record the switch to %s, so traffic stays on %s: %w", m.version, where, err)}
	}

	step := time.Now()
	var pushedOut *slot // a warm slot a deploy's new warm one replaces
	s.mu.Lock()
	s.route.Switch(t)
	s.route.ClearCanary() // a canary target is now the live one
	nl := newSlot(m.rel, m.version, spec, m.inst, t)
	nl.backoff = m.backoff
	if m.unprobed {
		nl.health.reason, nl.health.checked = notChecked, time.Time{}
	}
	if m.takeOver != nil {
		nl.earlier = append(append(nl.earlier, m.takeOver.earlier...), m.takeOver.drained)
	}
	s.live = nl
	if m.takeOver != nil {
		s.stopWarmLocked()
		m.takeOver.unwatchLocked() // nl watches the instance from now on
	}
	if old != nil && !keepWarm {
		old.unwatchLocked()
	}
	if keepWarm {
		pushedOut = s.stopWarmLocked()
		if pushedOut != nil {
			pushedOut.unwatchLocked()
		}
		s.warm = old
		old.since = time.Now()
		e.watchWarmLocked(s, old)
	}
	e.watchLocked(s, nl)
	s.mu.Unlock()
	s.cut.Unlock()
	e.signalChange()
	flip := time.Since(step)

	if m.takeOver != nil {
		e.drainAsync(s, m.takeOver) // its old target never carries traffic again
		e.event(m.takeOver.rel, "state", release.LevelInfo, fmt.Sprintf("retired: its running instance now serves for release #%d", m.rel), 0)
	}
	if old != nil && old != m.takeOver {
		e.drainAsync(s, old)
		switch {
		case keepWarm:
			e.event(old.rel, "state", release.LevelInfo, fmt.Sprintf("replaced by %s (release #%d); kept warm for %s", m.version, m.rel, s.spec().WarmFor), 0)
		case m.removeOld:
			e.goOwned(func() {
				old.waitDrained()
				e.removeInstance(context.Background(), old.inst, old.rel)
			})
		default:
			e.retireAsync(s, old, "")
		}
	}
	e.retireAsync(s, pushedOut, release.Retired)
	msg := fmt.Sprintf("traffic switched to %s", m.version)
	if m.takeOver != nil {
		msg = "traffic flipped back to warm " + m.version
	}
	if old != nil && old.rel != m.rel {
		msg += " from " + old.version
	}
	e.event(m.rel, "switch", release.LevelInfo, msg, flip)
	return nl, nil
}

// warmRollback moves traffic back to the warm instance for release rel (a
// rollback release that takes the instance over), after one health probe.
// It reports false, having changed nothing, when the warm instance is gone
// or does not answer (the caller then starts the version anew).
func (e *Engine) warmRollback(ctx context.Context, s *service, rel int64, w *slot) (*slot, bool, error) {
	if rt.Stopped(w.inst) {
		e.event(rel, "rollback", release.LevelWarn, fmt.Sprintf("warm %s has exited; starting it again", w.version), 0)
		return nil, false, nil
	}
	// One probe: the warm instance was healthy when it was live; make sure
	// it still is before it gets every request again.
	probe := w.spec.Health // the check it was started with
	probe.HealthyThreshold = 1
	probe.Deadline = probe.Timeout + probe.Interval
	pctx, cancel := context.WithTimeout(ctx, probe.Deadline+time.Second)
	err := health.WaitHealthy(pctx, w.inst.Addr(), probe, w.inst.Done(), nil)
	cancel()
	if err != nil {
		e.event(rel, "rollback", release.LevelWarn, fmt.Sprintf("warm %s does not answer its health check (%v); starting it again", w.version, err), 0)
		return nil, false, nil
	}
	nl, err := e.cutover(s, move{rel: rel, version: w.version, inst: w.inst, spec: &w.spec, demote: release.RolledBack, takeOver: w})
	if errors.Is(err, errStale) {
		return nil, false, nil // retired while we probed
	}
	if err != nil {
		return nil, false, err
	}
	return nl, true, nil
}
