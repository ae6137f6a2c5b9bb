package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/hotswap/hotswap/internal/health"
	"github.com/hotswap/hotswap/internal/proxy"
	"github.com/hotswap/hotswap/internal/release"
	rt "github.com/hotswap/hotswap/internal/runtime"
)

// stopTimeout bounds how long stopping one instance may take (the runtime
// applies the service's stop grace inside it).
const stopTimeout = 2 * time.Minute

// switchTo makes inst the live version: one pointer swap in the proxy, so
// every request that starts afterwards goes to it and none fails. The
// replaced version is drained (its in-flight requests, streams included,
// get DrainTimeout) and, for a deploy, kept running for WarmFor so a
// rollback is another pointer swap.
func (e *Engine) switchTo(s *service, d *deployment, inst rt.Instance, replacedState release.State, t *proxy.Target) error {
	step := time.Now()
	if t == nil {
		var err error
		if t, err = s.route.NewTarget(d.version, inst.Addr()); err != nil {
			return &failure{step: "switch", err: err}
		}
	}
	s.mu.Lock()
	s.route.Switch(t)
	s.route.ClearCanary() // a canary target is now the live one
	old := s.live
	s.live = newSlot(d.rel, d.version, inst, t)
	e.superviseLocked(s, s.live)
	type retirement struct {
		sl    *slot
		state release.State // "" keeps the state the switch recorded
	}
	var retireNow []retirement
	if old != nil {
		if replacedState == release.Warm && s.spec.WarmFor > 0 {
			if s.warm != nil {
				retireNow = append(retireNow, retirement{s.stopWarmLocked(), release.Retired})
			}
			s.warm = old
			old.since = time.Now()
			e.watchWarmLocked(s, old)
		} else {
			retireNow = append(retireNow, retirement{old, ""})
		}
	}
	s.mu.Unlock()
	switched := time.Since(step)

	demoteTo := replacedState
	if demoteTo == release.Warm && s.spec.WarmFor <= 0 {
		demoteTo = release.Retired
	}
	e.promote(d.rel, demoteTo)
	if old != nil {
		e.drainAsync(s, old)
		if demoteTo == release.Warm {
			e.event(old.rel, "state", release.LevelInfo, fmt.Sprintf("replaced by %s (release #%d); kept warm for %s", d.version, d.rel, s.spec.WarmFor), 0)
		}
	}
	msg := fmt.Sprintf("traffic switched to %s", d.version)
	if old != nil {
		msg += " from " + old.version
	}
	e.event(d.rel, "switch", release.LevelInfo, msg, switched)
	for _, r := range retireNow {
		e.retireAsync(s, r.sl, r.state)
	}
	e.event(d.rel, "done", release.LevelInfo, fmt.Sprintf("%s %s %s is live", d.kind, s.spec.Name, d.version), time.Since(d.started))
	kind := "succeeded"
	if d.kind == KindRollback {
		kind = "rolled_back"
	}
	prev := ""
	if old != nil {
		prev = old.version
	}
	e.notifyEvent(Notification{Kind: kind, Service: s.spec.Name, Version: d.version, PreviousVersion: prev,
		ReleaseID: d.rel, Actor: d.req.Source.Actor, Duration: time.Since(d.started)})
	return nil
}

// flipToWarm rolls back by pointing traffic at the warm previous instance,
// if the rollback target is the warm one and it still answers. It reports
// false (and changes nothing) when a full start is needed instead.
func (e *Engine) flipToWarm(ctx context.Context, s *service, d *deployment) (bool, error) {
	s.mu.Lock()
	w := s.warm
	s.mu.Unlock()
	if w == nil || w.version != d.version {
		return false, nil
	}
	select {
	case <-w.inst.Done():
		e.event(d.rel, "rollback", release.LevelWarn, fmt.Sprintf("warm %s has exited; starting it again", w.version), 0)
		return false, nil
	default:
	}
	// One probe: the warm instance was healthy when it was live; make sure
	// it still is before it gets every request again.
	probe := s.spec.Health
	probe.HealthyThreshold = 1
	probe.Deadline = probe.Timeout + probe.Interval
	pctx, cancel := context.WithTimeout(ctx, probe.Deadline+time.Second)
	err := health.WaitHealthy(pctx, w.inst.Addr(), probe, w.inst.Done(), nil)
	cancel()
	if err != nil {
		e.event(d.rel, "rollback", release.LevelWarn, fmt.Sprintf("warm %s does not answer its health check (%v); starting it again", w.version, err), 0)
		return false, nil
	}

	step := time.Now()
	t, err := s.route.NewTarget(w.version, w.inst.Addr())
	if err != nil {
		return false, &failure{step: "switch", err: err}
	}
	s.mu.Lock()
	if s.warm != w { // retired while we probed
		s.mu.Unlock()
		return false, nil
	}
	s.route.Switch(t)
	bad := s.live
	s.stopWarmLocked()
	s.live = newSlot(d.rel, w.version, w.inst, t)
	e.superviseLocked(s, s.live)
	s.mu.Unlock()
	flip := time.Since(step)

	e.record(d.rel, func(r *release.Release) { r.InstanceID, r.Addr = w.inst.ID(), w.inst.Addr() })
	e.promote(d.rel, release.RolledBack)
	e.drainAsync(s, w) // its old target: already draining since it was replaced, or never used (recovered)
	e.setState(w.rel, release.Retired, fmt.Sprintf("its running instance was taken over by rollback release #%d", d.rel))
	e.event(d.rel, "switch", release.LevelInfo, fmt.Sprintf("traffic flipped back to warm %s", w.version), flip)
	prev := ""
	if bad != nil {
		prev = bad.version
		e.drainAsync(s, bad)
		e.retireAsync(s, bad, "")
	}
	e.event(d.rel, "done", release.LevelInfo, fmt.Sprintf("rollback %s %s is live", s.spec.Name, w.version), time.Since(d.started))
	e.notifyEvent(Notification{Kind: "rolled_back", Service: s.spec.Name, Version: w.version, PreviousVersion: prev,
		ReleaseID: d.rel, Actor: d.req.Source.Actor, Duration: time.Since(d.started), Automatic: d.req.Source.Kind == release.SourceAuto})
	return true, nil
}

// drainAsync starts draining a replaced slot's target: no new requests reach
// it; in-flight ones get DrainTimeout, after which the proxy closes them.
func (e *Engine) drainAsync(s *service, sl *slot) {
	sl.drainOnce.Do(func() { e.goOwned(func() { e.drain(s, sl) }) })
}

func (e *Engine) drain(s *service, sl *slot) {
	defer close(sl.drained)
	step := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.spec.DrainTimeout)
	defer cancel()
	if err := sl.target.Drain(ctx); err != nil {
		e.event(sl.rel, "drain", release.LevelWarn, fmt.Sprintf("drain timeout %s reached with requests in flight; they were closed", s.spec.DrainTimeout), time.Since(step))
		return
	}
	e.event(sl.rel, "drain", release.LevelInfo, "drained: no requests in flight", time.Since(step))
}

// watchWarmLocked retires sl when its warm window ends. Called with s.mu held.
func (e *Engine) watchWarmLocked(s *service, sl *slot) {
	stop := make(chan struct{})
	sl.stopWarm = stop
	window := s.spec.WarmFor - time.Since(sl.since)
	e.goOwned(func() {
		t := time.NewTimer(window)
		defer t.Stop()
		select {
		case <-t.C:
		case <-stop:
			return
		case <-e.ctx.Done():
			return // the daemon stops; the warm instance is re-adopted on start
		}
		s.mu.Lock()
		if s.warm != sl {
			s.mu.Unlock()
			return
		}
		s.warm = nil
		s.mu.Unlock()
		e.retire(s, sl, release.Retired, "warm window of "+s.spec.WarmFor.String()+" ended")
	})
}

// stopWarmLocked detaches the warm slot and cancels its timer. Called with
// s.mu held; returns the slot (or nil).
func (s *service) stopWarmLocked() *slot {
	w := s.warm
	if w != nil && w.stopWarm != nil {
		close(w.stopWarm)
		w.stopWarm = nil
	}
	s.warm = nil
	return w
}

func (e *Engine) retireAsync(s *service, sl *slot, state release.State) {
	if sl == nil {
		return
	}
	e.goOwned(func() { e.retire(s, sl, state, "") })
}

// promote records the switch: rel becomes the service's live release and
// the one that was live moves to demoteTo, in one transaction.
func (e *Engine) promote(rel int64, demoteTo release.State) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := e.store.Promote(ctx, rel, demoteTo); err != nil {
		e.log.Error("record switch", "release", rel, "err", err)
		e.event(rel, "switch", release.LevelError, "could not record the switch: "+err.Error(), 0)
	}
	e.record(rel, func(r *release.Release) { r.FinishedAt = time.Now() })
}

// retire waits for sl's drain, stops its instance (a Docker container is
// kept for a later rollback) and records state, unless it is "".
func (e *Engine) retire(s *service, sl *slot, state release.State, why string) {
	id := sl.inst.ID()
	s.mu.Lock()
	s.retiring[id] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.retiring, id)
		s.mu.Unlock()
	}()
	e.drainAsync(s, sl)
	<-sl.drained
	step := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := sl.inst.Stop(ctx); err != nil {
		e.event(sl.rel, "stop", release.LevelError, fmt.Sprintf("stop %s: %v", sl.version, err), time.Since(step))
	} else {
		msg := "stopped " + sl.version
		if why != "" {
			msg += ": " + why
		}
		e.event(sl.rel, "stop", release.LevelInfo, msg, time.Since(step))
	}
	if state != "" {
		e.setState(sl.rel, state, "")
	}
	e.retain(ctx, s)
}
