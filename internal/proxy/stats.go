package proxy

import (
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of the latency histogram's finite
// buckets. They are fixed so that recording is a few atomic adds and the
// Prometheus histogram and Stats agree.
var latencyBounds = [...]time.Duration{
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond,
	5 * time.Second, 10 * time.Second, 30 * time.Second,
}

const numBuckets = len(latencyBounds) + 1 // the last one is +Inf

// counters are a target's live statistics, written with atomics on the
// request path and read as a Stats snapshot.
type counters struct {
	requests  atomic.Uint64
	codes     [5]atomic.Uint64 // by status class 1xx..5xx
	transport atomic.Uint64
	buckets   [numBuckets]atomic.Uint64
	sumNanos  atomic.Int64
}

// record counts one finished request: its status as the client saw it and
// the time until the target's response headers arrived (latency < 0 when no
// response arrived, as after a transport error).
func (c *counters) record(status int, latency time.Duration) {
	c.requests.Add(1)
	if class := status/100 - 1; class >= 0 && class < len(c.codes) {
		c.codes[class].Add(1)
	}
	if latency < 0 {
		return
	}
	i := 0
	for i < len(latencyBounds) && latency > latencyBounds[i] {
		i++
	}
	c.buckets[i].Add(1)
	c.sumNanos.Add(int64(latency))
}

// Stats is a snapshot of a target's counters since it was created.
type Stats struct {
	// Requests counts requests the target finished, whatever the outcome.
	// Requests abandoned by their client before a response started, and
	// requests that failed because of their client (malformed or broken-off
	// body, body timeout), are not counted here but in the service's
	// ClientErrors.
	Requests uint64
	// Codes counts responses by status class as the client saw them:
	// Codes[0] is 1xx (upgrades) … Codes[4] is 5xx, which includes the 502
	// and 504 the proxy answers after a transport error.
	Codes [5]uint64
	// TransportErrors counts attempts that got no usable response from the
	// target: refused or failed connections, resets, timeouts. An attempt
	// retried successfully on another target is still counted here.
	TransportErrors uint64
	// Latency is the time from picking the target until its response
	// headers arrived, so long streams do not distort it.
	Latency Histogram
}

// ServerErrors is the number of 5xx responses, the figure a deploy watches.
func (s Stats) ServerErrors() uint64 { return s.Codes[4] }

// Histogram is a latency histogram snapshot with fixed buckets.
type Histogram struct {
	// Bounds are the finite buckets' upper bounds; Counts has one more
	// element, for the +Inf bucket. Counts are per bucket, not cumulative.
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// Stats returns a snapshot of the target's counters. Fields are read one by
// one, so a snapshot taken under load may be off by the requests that
// finished while it was taken.
func (t *Target) Stats() Stats {
	c := &t.stats
	s := Stats{
		Requests:        c.requests.Load(),
		TransportErrors: c.transport.Load(),
		Latency: Histogram{
			Bounds: latencyBounds[:],
			Counts: make([]uint64, numBuckets),
			Sum:    time.Duration(c.sumNanos.Load()),
		},
	}
	for i := range c.codes {
		s.Codes[i] = c.codes[i].Load()
	}
	for i := range c.buckets {
		n := c.buckets[i].Load()
		s.Latency.Counts[i] = n
		s.Latency.Count += n
	}
	return s
}

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) by linear interpolation
// inside the bucket that holds it, as Prometheus' histogram_quantile does.
// It returns 0 for an empty histogram and the largest finite bound when the
// quantile falls in the +Inf bucket.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 || len(h.Counts) == 0 {
		return 0
	}
	q = max(0, min(1, q))
	rank := q * float64(h.Count)
	var cum float64
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		if cum+float64(n) < rank {
			cum += float64(n)
			continue
		}
		if i >= len(h.Bounds) {
			return h.Bounds[len(h.Bounds)-1]
		}
		lower := time.Duration(0)
		if i > 0 {
			lower = h.Bounds[i-1]
		}
		frac := (rank - cum) / float64(n)
		return lower + time.Duration(frac*float64(h.Bounds[i]-lower))
	}
	return h.Bounds[len(h.Bounds)-1]
}
