package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// killGrace is how long Drain waits, after its context ended and it closed
// the remaining connections, for the aborted requests to unwind.
const killGrace = 2 * time.Second

// Target is one running version of a service: where to send its requests
// and how many are in flight. Create it with Service.NewTarget, route to it
// with Switch, SetCanary or SetPreview, and retire it with Drain.
type Target struct {
	svc        *Service
	version    string
	addr       string
	versionHdr []string // shared X-Hotswap-Version value; never mutated

	// inflight counts requests that hold the target, including streaming
	// responses and upgraded connections; draining is set once by Drain and
	// never cleared. See acquire for the protocol between the two.
	inflight atomic.Int64
	draining atomic.Bool
	idleOnce sync.Once
	idle     chan struct{} // closed when draining and inflight reached 0

	pool  connPool // keep-alive connections to addr
	stats counters // request counters, atomics only
	// unreachable is set when a dial to addr failed and cleared by the next
	// dial that succeeds; readiness reports such a live version.
	unreachable atomic.Bool

	// mu guards conns and killed: every open connection that belongs to this
	// target (upstream connections and hijacked client connections), so a
	// drain that runs out of time can close them. Taken on dial, close and
	// hijack, never per request on a kept-alive connection.
	mu        sync.Mutex
	conns     map[io.Closer]struct{}
	killed    bool
	longLived map[goodbyer]struct{} // WebSockets and event streams, for sayGoodbye
}

// NewTarget registers a version listening at addr (host:port) with the
// service. It serves nothing until Switch, SetCanary or SetPreview names it.
// Every target ends with Drain, even one that never served, so that the
// service forgets it. A drained target never serves again: to bring a
// version back (a rollback), create a new target for it.
func (s *Service) NewTarget(version, addr string) (*Target, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("target %s of %s: address %q: %w", version, s.name, addr, err)
	}
	t := &Target{
		svc:        s,
		version:    version,
		addr:       addr,
		versionHdr: []string{version},
		idle:       make(chan struct{}),
		conns:      map[io.Closer]struct{}{},
		longLived:  map[goodbyer]struct{}{},
	}
	t.pool.init(t, *s.p.o())
	s.register(t)
	return t, nil
}

// Version is the version string the target was created with.
func (t *Target) Version() string { return t.version }

// Addr is the host:port requests are sent to.
func (t *Target) Addr() string { return t.addr }

// InFlight is the number of requests, streams and upgraded connections the
// target is serving right now.
func (t *Target) InFlight() int64 { return t.inflight.Load() }

// Draining reports whether Drain was called; a draining target gets no new
// requests.
func (t *Target) Draining() bool { return t.draining.Load() }

// acquire claims the target for one request. It fails once Drain started;
// the caller then re-reads the service's pointers, which by then name the
// successor. Incrementing before checking closes the race with Drain: either
// Drain's load of inflight sees this request, or this load sees draining.
func (t *Target) acquire() bool {
	t.inflight.Add(1)
	if t.draining.Load() {
		t.release()
		return false
	}
	return true
}

// release ends a claim taken by acquire and wakes Drain on the last one.
func (t *Target) release() {
	if t.inflight.Add(-1) == 0 && t.draining.Load() {
		t.idleOnce.Do(func() { close(t.idle) })
	}
}

// Drain stops new requests from reaching the target and waits until those
// in flight (streams and upgraded connections included) have finished.
// Call it after the service stopped naming the target (Switch,
// ClearCanary, ClearPreview); requests that still pick it are re-routed.
// If ctx ends first, Drain says goodbye to WebSockets (a close frame with
// code 1012 between two frames) and event streams (a clean end between two
// events) and gives them a second to end; then it closes every remaining
// connection of the target, waits briefly for the aborted requests to
// unwind, and returns ctx.Err() wrapped. Either way the target is retired: its idle connections are
// closed and the metrics keep it for a while. Drain may be called again; it
// waits for the same condition.
func (t *Target) Drain(ctx context.Context) error {
	t.draining.Store(true)
	if t.inflight.Load() == 0 {
		t.idleOnce.Do(func() { close(t.idle) })
	}
	defer t.retire()
	select {
	case <-t.idle:
		return nil
	case <-ctx.Done():
	}
	// Long-lived connections are first asked to end cleanly, so their
	// clients reconnect at once instead of seeing a broken connection.
	if t.sayGoodbye() > 0 {
		grace := time.NewTimer(goodbyeGrace)
		select {
		case <-t.idle:
			grace.Stop()
			return fmt.Errorf("drain %s of %s: %w", t.version, t.svc.name, ctx.Err())
		case <-grace.C:
		}
	}
	n := t.closeAll()
	t.svc.p.o().Logger.Warn("drain deadline reached, closed remaining connections",
		"service", t.svc.name, "version", t.version, "inflight", t.inflight.Load(), "closed", n)
	grace := time.NewTimer(killGrace)
	defer grace.Stop()
	select {
	case <-t.idle:
	case <-grace.C:
	}
	return fmt.Errorf("drain %s of %s: %w", t.version, t.svc.name, ctx.Err())
}

// retire closes idle connections and moves the target to the service's
// list of drained targets.
func (t *Target) retire() {
	t.pool.close()
	t.svc.retire(t)
}

// track records an open connection so closeAll can reach it. It refuses
// (and the caller must close the connection) once the target was killed.
func (t *Target) track(c io.Closer) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.killed {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

// untrack forgets a connection that was closed.
func (t *Target) untrack(c io.Closer) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// closeAll closes every tracked connection, aborting the requests that use
// them, and refuses new ones. It returns how many it closed.
func (t *Target) closeAll() int {
	t.mu.Lock()
	t.killed = true
	all := make([]io.Closer, 0, len(t.conns))
	for c := range t.conns {
		all = append(all, c)
	}
	clear(t.conns)
	t.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
	return len(all)
}
