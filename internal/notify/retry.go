package notify

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPError is a receiver's non-2xx answer. The Notifier retries it when
// Retryable says so, after RetryAfter if the receiver gave one.
type HTTPError struct {
	Sink       string
	StatusCode int
	RetryAfter time.Duration // from the Retry-After header; 0 if none
	Body       string        // the start of the answer, for the log
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s: receiver answered %d %s", e.Sink, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Retryable: 408, 429 and 5xx may succeed later; other statuses (a revoked
// webhook's 404, a rejected payload's 400) will not.
func (e *HTTPError) Retryable() bool {
	return e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// retryable: HTTP errors by status, ErrPermanent never, anything else
// (connection refused, timeouts, resets) always.
func retryable(err error) bool {
	if errors.Is(err, ErrPermanent) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Retryable()
	}
	return true
}

// backoff is the wait after failed attempt n (1-based): BackoffBase
// doubled per attempt, capped at BackoffMax, jittered into [d/2, d] so
// sinks failing together do not retry together. A Retry-After from the
// receiver replaces it, capped at BackoffMax.
func (n *Notifier) backoff(attempt int, err error) time.Duration {
	var he *HTTPError
	if errors.As(err, &he) && he.RetryAfter > 0 {
		return min(he.RetryAfter, n.opts.BackoffMax)
	}
	d := n.opts.BackoffBase
	for i := 1; i < attempt && d < n.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, n.opts.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or
// unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
