package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/hotswap/hotswap/internal/release"
)

// stopTimeout bounds how long stopping one instance may take (the runtime
// applies the service's stop grace inside it).
const stopTimeout = 2 * time.Minute

// drainAsync starts draining a replaced slot's target: no new requests reach
// it; in-flight ones get DrainTimeout, after which the proxy closes them.
func (e *Engine) drainAsync(s *service, sl *slot) {
	sl.drainOnce.Do(func() { e.goOwned(func() { e.drain(s, sl) }) })
}

func (e *Engine) drain(s *service, sl *slot) {
	defer close(sl.drained)
	step := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.spec().DrainTimeout)
	defer cancel()
	if err := sl.target.Drain(ctx); err != nil {
		e.event(sl.rel, "drain", release.LevelWarn, fmt.Sprintf("drain timeout %s reached with requests in flight; they were closed", s.spec().DrainTimeout), time.Since(step))
		return
	}
	e.event(sl.rel, "drain", release.LevelInfo, "drained: no requests in flight", time.Since(step))
}

// waitDrained returns once every target sl's instance served through has
// drained (each within its own drain timeout).
func (sl *slot) waitDrained() {
	<-sl.drained
	for _, ch := range sl.earlier {
		<-ch
	}
}

// watchWarmLocked retires sl when its warm window ends. Called with s.mu held.
func (e *Engine) watchWarmLocked(s *service, sl *slot) {
	stop := make(chan struct{})
	sl.stopWarm = stop
	window := s.spec().WarmFor - time.Since(sl.since)
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
		s.cut.Lock()
		s.mu.Lock()
		if s.warm != sl {
			s.mu.Unlock()
			s.cut.Unlock()
			return
		}
		s.warm = nil
		sl.unwatchLocked()
		s.mu.Unlock()
		s.cut.Unlock()
		e.retire(s, sl, release.Retired, "warm window of "+s.spec().WarmFor.String()+" ended")
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
	sl.waitDrained()
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
