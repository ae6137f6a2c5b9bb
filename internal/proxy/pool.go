package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// upConn is one HTTP/1.1 connection to a target. It is owned by exactly one
// request at a time, or by the pool while idle.
type upConn struct {
	net.Conn
	t         *Target
	br        *bufio.Reader
	bw        *bufio.Writer
	nread     int64     // bytes read from the target so far; owner only
	reused    bool      // taken from the pool rather than freshly dialled
	idleSince time.Time // set when put in the pool
	armed     time.Time // read deadline in force, zero when none
	// clientFailed is set by the request body writer when reading the
	// client failed, before it closes the connection.
	clientFailed atomic.Bool
	closeOnce    sync.Once

	peek *peeker // probes the idle connection before reuse (connAlive)

	// Parsing buffers reused across the responses of this connection.
	scratch []byte  // header values of the current response
	fields  []field // its fields
	long    []byte  // a header line longer than br's buffer
}

// Read counts bytes so a failure can tell "the target said nothing" apart
// from "the target said something and then failed".
func (c *upConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.nread += int64(n)
	return n, err
}

// Close closes the socket once and forgets it in the target's set.
func (c *upConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.t.untrack(c)
	})
	return err
}

// armHeaderDeadline makes sure a response head is read within about d of
// now. Setting a deadline costs a runtime timer update, so one that still
// leaves at least 90% of d is kept: under load a connection re-arms once
// every d/10 rather than on every request.
func (c *upConn) armHeaderDeadline(now time.Time, d time.Duration) {
	if c.armed.IsZero() || c.armed.Sub(now) < d-d/10 {
		c.armed = now.Add(d)
		c.SetReadDeadline(c.armed)
	}
}

// disarm removes the read deadline before a read that may take long.
func (c *upConn) disarm() {
	if !c.armed.IsZero() {
		c.armed = time.Time{}
		c.SetReadDeadline(time.Time{})
	}
}

// dialError marks a failure to connect: nothing was sent, so the request
// may be replayed on another attempt whatever its method or body.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// connPool keeps idle keep-alive connections to one target, most recently
// used first. mu guards idle, closed and reaping; it is held only to push or
// pop, and by the reaper.
type connPool struct {
	t        *Target
	dialer   net.Dialer
	max      int
	idleTime time.Duration

	mu      sync.Mutex
	idle    []*upConn // oldest at the bottom
	closed  bool
	reaping bool        // reaper is armed; cleared when the pool empties
	reaper  *time.Timer // closes connections idle longer than idleTime
}

func (p *connPool) init(t *Target, o Options) {
	p.t = t
	p.dialer = net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	p.max = o.MaxIdleConnsPerTarget
	p.idleTime = o.IdleConnTimeout
}

// get returns a pooled connection that is provably clean, or dials one.
// fresh skips the pool (used for a retry after a stale connection). Every
// pooled connection is probed before reuse, however recently it was used:
// one the target closed reads as EOF, and one holding bytes nobody asked
// for (a second response after a short Content-Length, a body after a HEAD
// answer, the answer to an unread request body the target parsed as a
// request) is out of step with its requests. Either is closed. The probe is
// one non-blocking syscall.
func (p *connPool) get(ctx context.Context, now time.Time, fresh bool) (*upConn, error) {
	for !fresh {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if now.Sub(c.idleSince) > p.idleTime || !connAlive(c) {
			c.Close()
			continue
		}
		c.reused = true
		return c, nil
	}
	return p.dial(ctx)
}

func (p *connPool) dial(ctx context.Context) (*upConn, error) {
	nc, err := p.dialer.DialContext(ctx, "tcp", p.t.addr)
	if err != nil {
		if ctx.Err() == nil {
			p.t.unreachable.Store(true)
		}
		return nil, &dialError{err: fmt.Errorf("dial %s: %w", p.t.addr, err)}
	}
	if p.t.unreachable.Load() {
		p.t.unreachable.Store(false)
	}
	c := &upConn{Conn: nc, t: p.t}
	c.br = bufio.NewReaderSize(c, 8<<10)
	c.bw = bufio.NewWriterSize(nc, 4<<10)
	c.initPeek()
	if !p.t.track(c) {
		nc.Close()
		return nil, &dialError{err: fmt.Errorf("dial %s: target was shut down", p.t.addr)}
	}
	return c, nil
}

// put returns a connection whose last exchange was framed exactly, idle
// since about now (a time the caller already had). It closes it instead
// when anything is left in its read buffer (bytes past the end of the
// response), or when the pool is full or closed.
func (p *connPool) put(c *upConn, now time.Time) {
	if c.br.Buffered() > 0 {
		c.Close()
		return
	}
	c.idleSince = now
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.max {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
	if !p.reaping {
		p.reaping = true
		if p.reaper == nil {
			p.reaper = time.AfterFunc(p.idleTime, p.reap)
		} else {
			p.reaper.Reset(p.idleTime)
		}
	}
	p.mu.Unlock()
}

// reap closes the connections idle for longer than idleTime, so a target
// that saw a burst and then no traffic does not keep its sockets open. It
// runs on the reaper timer while the pool holds connections and re-arms
// itself for when the oldest remaining one expires.
func (p *connPool) reap() {
	now := time.Now()
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].idleSince) >= p.idleTime {
		n++
	}
	expired := slices.Clone(p.idle[:n])
	p.idle = slices.Delete(p.idle, 0, n)
	if len(p.idle) > 0 && !p.closed {
		p.reaper.Reset(max(p.idle[0].idleSince.Add(p.idleTime).Sub(now), time.Millisecond))
	} else {
		p.reaping = false
	}
	p.mu.Unlock()
	for _, c := range expired {
		c.Close()
	}
}

// closeIdle closes every pooled connection, e.g. after one turned out to be
// stale, which usually means the target restarted.
func (p *connPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// close closes the idle connections and makes put close from now on.
func (p *connPool) close() {
	p.mu.Lock()
	p.closed = true
	if p.reaper != nil {
		p.reaper.Stop()
	}
	p.mu.Unlock()
	p.closeIdle()
}
