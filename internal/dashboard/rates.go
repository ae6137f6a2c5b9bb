package dashboard

import (
	"sync"
	"time"
)

// rateWindow is the shortest window requests/s and the 5xx rate are
// computed over; shorter looks between samples reuse the last figures.
const rateWindow = 2 * time.Second

// rates turns each version's cumulative counters into requests/s and 5xx
// rate over the last window. One sampler is shared by every viewer, so the
// figures do not depend on how many people are watching.
type rates struct {
	mu   sync.Mutex // guards last
	last map[int64]rateSample
}

type rateSample struct {
	at        time.Time
	req, errs uint64
	rps       float64
	errPct    float64 // -1: no requests in the window
	known     bool
}

func newRates() *rates { return &rates{last: map[int64]rateSample{}} }

// versionRow is a version with its current rates, for the templates.
type versionRow struct {
	*VersionView
	RPS       float64
	RateKnown bool
	ErrPct    float64 // -1: unknown
}

// row samples v (keyed by its release, which is unique per running
// instance) and returns it with its rates; nil for nil.
func (r *rates) row(now time.Time, v *VersionView) *versionRow {
	if v == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.last[v.Release]
	if !ok || v.Requests < s.req { // new, or counters restarted
		r.last[v.Release] = rateSample{at: now, req: v.Requests, errs: v.Errors, errPct: -1}
		return &versionRow{VersionView: v, ErrPct: -1}
	}
	if dt := now.Sub(s.at); dt >= rateWindow {
		n := s
		n.at, n.req, n.errs, n.known = now, v.Requests, v.Errors, true
		d := v.Requests - s.req
		n.rps = float64(d) / dt.Seconds()
		n.errPct = -1
		if d > 0 {
			n.errPct = 100 * float64(v.Errors-s.errs) / float64(d)
		}
		r.last[v.Release] = n
		s = n
	}
	return &versionRow{VersionView: v, RPS: s.rps, RateKnown: s.known, ErrPct: s.errPct}
}

// forget drops samples of instances no longer running, keeping the map
// bounded by what runs.
func (r *rates) forget(keep map[int64]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.last {
		if !keep[id] {
			delete(r.last, id)
		}
	}
}
