package health

import (
	"context"
	"fmt"
	"time"
)

// Watch probes a live instance at addr every c.Interval until ctx ends,
// and calls onChange when its state flips: to unhealthy after
// c.UnhealthyThreshold (default c.HealthyThreshold) consecutive failures,
// back to healthy after c.HealthyThreshold consecutive passes. It starts
// out assuming healthy, since it watches instances that passed
// WaitHealthy. reason is the last failure, or how many passes restored it.
// c.Deadline is not used.
//
// Watch blocks: the caller owns the goroutine that runs it, stops it by
// ending ctx, and gets ctx.Err() back (or an error for an invalid c at
// once). onChange runs on that goroutine.
func Watch(ctx context.Context, addr string, c Check, onChange func(healthy bool, reason string)) error {
	return WatchProbes(ctx, addr, c, onChange, nil)
}

// WatchProbes is Watch that also hands every probe's outcome to onProbe
// (when not nil), before any onChange it causes, on the same goroutine: a
// caller can tell "not checked yet" from "passing".
func WatchProbes(ctx context.Context, addr string, c Check, onChange func(healthy bool, reason string), onProbe func(Probe)) error {
	if err := c.validate(false); err != nil {
		return err
	}
	down := c.UnhealthyThreshold
	if down == 0 {
		down = c.HealthyThreshold
	}
	p := newProber(addr, c)
	defer p.close()
	next := time.NewTimer(0)
	defer next.Stop()

	// healthy, passes and fails are owned by this loop.
	healthy, passes, fails := true, 0, 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-next.C:
		}
		start := time.Now()
		pr := p.probe(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if onProbe != nil {
			onProbe(pr)
		}
		if pr.OK {
			passes, fails = passes+1, 0
			if !healthy && passes >= c.HealthyThreshold {
				healthy = true
				onChange(true, fmt.Sprintf("%d consecutive passes", passes))
			}
		} else {
			passes, fails = 0, fails+1
			if healthy && fails >= down {
				healthy = false
				onChange(false, fmt.Sprintf("%d consecutive failures; last: %v", fails, pr.Err))
			}
		}
		next.Reset(max(0, c.Interval-time.Since(start)))
	}
}

// Watcher is a Watch running on a goroutine of its own, for callers that
// want a handle to stop it rather than a goroutine to manage.
type Watcher struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// StartWatch runs Watch on a new goroutine owned by the returned Watcher.
// It fails at once, starting nothing, when c is invalid.
func StartWatch(ctx context.Context, addr string, c Check, onChange func(healthy bool, reason string)) (*Watcher, error) {
	if err := c.validate(false); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		// c is valid, so Watch only ends with ctx.Err(): Stop, or the
		// parent context, asked for it.
		_ = Watch(ctx, addr, c, onChange)
	}()
	return w, nil
}

// Stop ends the watch and waits until its goroutine has returned, so no
// onChange call happens after Stop returns.
func (w *Watcher) Stop() {
	w.cancel()
	<-w.done
}
