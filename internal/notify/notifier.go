package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Options.
const (
	DefaultQueueSize      = 100
	DefaultMaxAttempts    = 5
	DefaultAttemptTimeout = 10 * time.Second
	DefaultBackoffBase    = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
)

// Options tunes delivery. Zero values mean the defaults.
type Options struct {
	// QueueSize bounds each sink's queue (events); default 100.
	QueueSize int
	// MaxAttempts bounds tries per event and sink, first included; default 5.
	MaxAttempts int
	// AttemptTimeout bounds one HTTP attempt; default 10s.
	AttemptTimeout time.Duration
	// BackoffBase is the wait after the first failure; it doubles per
	// attempt, with jitter in [d/2, d]. Default 500ms.
	BackoffBase time.Duration
	// BackoffMax caps the wait, including a receiver's Retry-After;
	// default 30s.
	BackoffMax time.Duration
	// Logger gets delivery warnings (never webhook URLs); nil discards.
	Logger *slog.Logger
	// OnAttempt, if set, is called after every attempt from the sink's
	// worker goroutine, for metrics and tests. It must not block.
	OnAttempt func(Attempt)
	// Now is the clock for Event.At defaults; nil means time.Now.
	Now func() time.Time
}

// Attempt reports one delivery try to Options.OnAttempt.
type Attempt struct {
	Sink    string
	Kind    Kind
	Service string
	N       int   // 1-based attempt number
	Err     error // nil when delivered
	Final   bool  // no more attempts for this event on this sink
}

// Stats counts outcomes since New; each counter is per (event, sink).
type Stats struct {
	Delivered uint64 // accepted by the receiver
	Failed    uint64 // gave up: attempts exhausted, permanent error or Close
	Dropped   uint64 // never tried: queue full (oldest dropped) or closed
}

// Notifier fans events out to sinks without ever blocking its caller.
// Each sink has one queue and one worker goroutine, owned by the Notifier
// and stopped by Close, so a slow or dead receiver only delays itself.
type Notifier struct {
	opts    Options
	log     *slog.Logger
	workers []*worker

	// ctx ends in-flight attempts and backoff waits when Close gives up.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per worker goroutine

	closeOnce sync.Once

	delivered, failed, dropped atomic.Uint64
}

type worker struct {
	sink Sink
	q    *queue
}

// New starts one worker per sink. Call Close to stop them.
func New(sinks []Sink, opts Options) *Notifier {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = DefaultAttemptTimeout
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{opts: opts, log: log, ctx: ctx, cancel: cancel}
	for _, s := range sinks {
		w := &worker{sink: s, q: newQueue(opts.QueueSize)}
		n.workers = append(n.workers, w)
		n.wg.Add(1)
		go n.run(w)
	}
	return n
}

// Notify queues ev for every sink that wants its kind and returns at once.
// It never fails the caller: a full queue drops its oldest event, a closed
// Notifier drops ev, both with a warning and Stats.Dropped.
func (n *Notifier) Notify(ev Event) {
	if ev.At.IsZero() {
		ev.At = n.opts.Now()
	}
	ev.Details = maps.Clone(ev.Details) // the caller may reuse its map
	j := job{ev: ev, id: newDeliveryID()}
	for _, w := range n.workers {
		if !w.sink.Wants(ev.Kind) {
			continue
		}
		accepted, droppedOldest := w.q.push(j)
		switch {
		case !accepted:
			n.dropped.Add(1)
			n.log.Warn("notify: notifier closed, event dropped", "sink", w.sink.Name(), "kind", ev.Kind, "service", ev.Service)
		case droppedOldest:
			n.dropped.Add(1)
			n.log.Warn("notify: queue full, oldest event dropped", "sink", w.sink.Name(), "queue", n.opts.QueueSize)
		}
	}
}

// Stats returns the counters so far.
func (n *Notifier) Stats() Stats {
	return Stats{Delivered: n.delivered.Load(), Failed: n.failed.Load(), Dropped: n.dropped.Load()}
}

// Close stops accepting events and waits for queued ones to be delivered
// (or given up on) until ctx ends; then it aborts in-flight attempts,
// abandons the rest and returns an error wrapping ctx.Err(). Either way no
// worker goroutine is left running when it returns. Safe to call twice.
func (n *Notifier) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		for _, w := range n.workers {
			w.q.close()
		}
	})
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		n.cancel()
		return nil
	case <-ctx.Done():
	}
	n.cancel()
	<-done // workers exit promptly: every wait selects on n.ctx
	left := 0
	for _, w := range n.workers {
		left += w.q.len()
	}
	n.failed.Add(uint64(left))
	if left > 0 {
		n.log.Warn("notify: closed with undelivered events", "abandoned", left)
	}
	return fmt.Errorf("notify: close with %d queued events abandoned: %w", left, ctx.Err())
}

// run is the worker goroutine of one sink.
func (n *Notifier) run(w *worker) {
	defer n.wg.Done()
	for {
		if n.ctx.Err() != nil {
			return
		}
		j, ok, closed := w.q.pop()
		if !ok {
			if closed {
				return
			}
			select {
			case <-w.q.wake:
			case <-n.ctx.Done():
				return
			}
			continue
		}
		n.deliver(w.sink, j)
	}
}

// deliver tries one job until it is accepted, fails permanently, runs out
// of attempts or the Notifier is cancelled.
func (n *Notifier) deliver(s Sink, j job) {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(n.ctx, n.opts.AttemptTimeout)
		err := s.Send(actx, j.ev, j.id)
		cancel()
		final := err == nil || attempt >= n.opts.MaxAttempts || !retryable(err) || n.ctx.Err() != nil
		if n.opts.OnAttempt != nil {
			n.opts.OnAttempt(Attempt{Sink: s.Name(), Kind: j.ev.Kind, Service: j.ev.Service, N: attempt, Err: err, Final: final})
		}
		if err == nil {
			n.delivered.Add(1)
			return
		}
		if final {
			n.failed.Add(1)
			n.log.Warn("notify: delivery failed", "sink", s.Name(), "kind", j.ev.Kind,
				"service", j.ev.Service, "attempts", attempt, "err", err)
			return
		}
		t := time.NewTimer(n.backoff(attempt, err))
		select {
		case <-t.C:
		case <-n.ctx.Done():
			t.Stop()
			n.failed.Add(1)
			return
		}
	}
}

func newDeliveryID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// ErrPermanent may be wrapped by a Sink's Send error to stop retries:
// retrying cannot fix it (an event that cannot be encoded).
var ErrPermanent = errors.New("permanent failure")
