package dashboard

import (
	"net"
	"sync"
	"time"
)

// Failed logins are limited per client address: a token cannot be guessed
// through the login form faster than maxFailures per failureWindow.
const (
	maxFailures   = 10
	failureWindow = time.Minute
	maxTracked    = 10000 // addresses remembered; beyond it the oldest windows are forgotten
)

// throttle counts failed logins per client address.
type throttle struct {
	mu sync.Mutex // guards by
	by map[string]failures
}

type failures struct {
	since time.Time
	n     int
}

func newThrottle() *throttle { return &throttle{by: map[string]failures{}} }

// host is the address part of r.RemoteAddr (the port changes per connection).
func host(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// blocked reports whether addr used up its failures in the current window.
func (t *throttle) blocked(addr string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.by[addr]
	return ok && now.Sub(f.since) < failureWindow && f.n >= maxFailures
}

// failed records one failed login from addr.
func (t *throttle) failed(addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.by[addr]
	if now.Sub(f.since) >= failureWindow {
		f = failures{since: now}
	}
	f.n++
	if _, ok := t.by[addr]; !ok && len(t.by) >= maxTracked {
		for a, o := range t.by {
			if now.Sub(o.since) >= failureWindow {
				delete(t.by, a)
			}
		}
	}
	t.by[addr] = f
}
