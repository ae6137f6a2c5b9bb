package health

import (
	"context"
	"fmt"
	"time"
)

// WaitHealthy probes addr until c.HealthyThreshold consecutive probes pass
// and returns nil. Until something accepts a connection it polls every
// openPoll, then every c.StartInterval (c.Interval if unset), so a version
// is judged as soon as it listens. It fails with a *DeadlineError
// (ErrDeadline, and also ErrPortNeverOpened when nothing ever accepted a
// connection) when c.Deadline passes first, or c.StartTimeout with the port
// still closed, with an error wrapping ErrExited when exited is
// closed (the instance stopped), and with an error wrapping ctx.Err() when
// ctx ends. A nil exited channel is never closed.
//
// observe, if not nil, is called after every probe on the calling
// goroutine, in order, so it may write progress without locking.
func WaitHealthy(ctx context.Context, addr string, c Check, exited <-chan struct{}, observe func(Probe)) error {
	if err := c.validate(true); err != nil {
		return err
	}
	p := newProber(addr, c)
	defer p.close()

	dctx, cancel := context.WithTimeout(ctx, c.Deadline)
	defer cancel()
	deadline, _ := dctx.Deadline()
	next := time.NewTimer(0)
	defer next.Stop()

	var (
		streak, probes int
		last           error
		limit          = c.Deadline // reported by fail
	)
	interval := c.Interval
	if c.StartInterval > 0 {
		interval = c.StartInterval
	}
	poll := min(openPoll, interval)
	var startBy <-chan time.Time // fires when the port had to be open
	if c.StartTimeout > 0 && c.StartTimeout < c.Deadline {
		t := time.NewTimer(c.StartTimeout)
		defer t.Stop()
		startBy = t.C
	}
	fail := func() error {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("health check of %s: %w", addr, ctx.Err())
		case isClosed(exited):
			if last != nil {
				return fmt.Errorf("%w (after %d probes; last failure: %v)", ErrExited, probes, last)
			}
			return fmt.Errorf("%w (after %d probes)", ErrExited, probes)
		}
		return &DeadlineError{Addr: addr, Deadline: limit, Probes: probes, Streak: streak,
			Needed: c.HealthyThreshold, Opened: p.opened.Load(), Last: last}
	}
	for {
		select {
		case <-dctx.Done():
			return fail()
		case <-exited:
			return fail()
		case <-startBy:
			if !p.opened.Load() {
				limit = c.StartTimeout
				return fail()
			}
			startBy = nil
			continue
		case <-next.C:
		}
		if isClosed(exited) {
			return fail()
		}
		start := time.Now()
		pr := p.probe(dctx)
		if !pr.OK && (dctx.Err() != nil || !time.Now().Before(deadline)) {
			// Cut short by the deadline or ctx: not the instance's answer.
			// (The dialer's own timer may fire just before dctx's does.)
			return fail()
		}
		probes++
		if pr.OK {
			streak++
		} else {
			streak, last = 0, pr.Err
		}
		pr.Streak = streak
		if observe != nil {
			observe(pr)
		}
		if isClosed(exited) {
			return fail() // whatever answered, the instance is gone
		}
		if streak >= c.HealthyThreshold {
			return nil
		}
		wait := interval
		if !p.opened.Load() {
			wait = poll
		}
		next.Reset(max(0, wait-time.Since(start)))
	}
}

// openPoll is how often WaitHealthy tries a port that has not opened yet.
const openPoll = 20 * time.Millisecond

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
