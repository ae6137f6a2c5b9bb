package deploy

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hotswap/hotswap/internal/proxy"
)

// Analysis is how the engine judges a new version from the traffic the proxy
// sees, during each canary step and during the bake window after a
// blue/green switch. A failing judgement sends all traffic back to the
// stable version at once.
type Analysis struct {
	Interval          time.Duration // how often to judge
	MinRequests       uint64        // judge only once the new version served this many in the window
	MaxErrorRate      float64       // 5xx fraction (proxy 502/504 included) the new version may not exceed; 0 = unchecked
	MaxErrorRateDelta float64       // how far above the stable version's rate it may be; 0 = unchecked
	MaxP95            time.Duration // p95 latency limit; 0 = unchecked
	Bake              time.Duration // blue/green: watch this long after the switch while the old version is warm
}

// window is the traffic of one target between two snapshots.
type window struct {
	requests uint64
	errors   uint64
	latency  proxy.Histogram
}

func (w window) errorRate() float64 {
	if w.requests == 0 {
		return 0
	}
	return float64(w.errors) / float64(w.requests)
}

// since returns what happened between an earlier snapshot and now.
func since(before, now proxy.Stats) window {
	w := window{requests: now.Requests - before.Requests, errors: now.Codes[4] - before.Codes[4]}
	h := proxy.Histogram{Bounds: now.Latency.Bounds, Counts: make([]uint64, len(now.Latency.Counts))}
	for i := range now.Latency.Counts {
		c := now.Latency.Counts[i]
		if i < len(before.Latency.Counts) {
			c -= before.Latency.Counts[i]
		}
		h.Counts[i] = c
		h.Count += c
	}
	h.Sum = now.Latency.Sum - before.Latency.Sum
	w.latency = h
	return w
}

// Verdict is one judgement, stored with a release that was rolled back so
// the numbers that failed are on record.
type Verdict struct {
	At                time.Time `json:"at"`
	Phase             string    `json:"phase"` // "canary 25%" or "bake"
	Requests          uint64    `json:"requests"`
	ErrorRate         float64   `json:"error_rate"`
	StableRequests    uint64    `json:"stable_requests"`
	StableErrorRate   float64   `json:"stable_error_rate"`
	P95MS             float64   `json:"p95_ms"`
	MaxErrorRate      float64   `json:"max_error_rate,omitempty"`
	MaxErrorRateDelta float64   `json:"max_error_rate_delta,omitempty"`
	MaxP95MS          float64   `json:"max_p95_ms,omitempty"`
	Failed            []string  `json:"failed,omitempty"`
	NotEnoughRequests bool      `json:"not_enough_requests,omitempty"`
}

// OK reports whether the new version passed (or could not yet be judged).
func (v Verdict) OK() bool { return len(v.Failed) == 0 }

func (v Verdict) String() string {
	if v.NotEnoughRequests {
		return fmt.Sprintf("%s: %d requests, not enough to judge", v.Phase, v.Requests)
	}
	s := fmt.Sprintf("%s: %d requests, 5xx %.2f%% (stable %.2f%% of %d), p95 %.1fms", v.Phase, v.Requests,
		100*v.ErrorRate, 100*v.StableErrorRate, v.StableRequests, v.P95MS)
	if len(v.Failed) > 0 {
		s += "; FAILED: " + strings.Join(v.Failed, "; ")
	}
	return s
}

// JSON renders the verdict for the release record.
func (v Verdict) JSON() string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf(`{"error":%q}`, err.Error())
	}
	return string(b)
}

// judge compares the new version's window against the limits and against
// the stable version's window.
func (a Analysis) judge(phase string, cand, stable window) Verdict {
	v := Verdict{At: time.Now(), Phase: phase, Requests: cand.requests, ErrorRate: cand.errorRate(),
		StableRequests: stable.requests, StableErrorRate: stable.errorRate(),
		P95MS:        ms(cand.latency.Quantile(0.95)),
		MaxErrorRate: a.MaxErrorRate, MaxErrorRateDelta: a.MaxErrorRateDelta, MaxP95MS: ms(a.MaxP95)}
	if cand.requests < a.MinRequests || cand.requests == 0 {
		v.NotEnoughRequests = true
		return v
	}
	if a.MaxErrorRate > 0 && v.ErrorRate > a.MaxErrorRate {
		v.Failed = append(v.Failed, fmt.Sprintf("5xx rate %.2f%% above the limit %.2f%%", 100*v.ErrorRate, 100*a.MaxErrorRate))
	}
	if a.MaxErrorRateDelta > 0 && v.ErrorRate > v.StableErrorRate+a.MaxErrorRateDelta {
		v.Failed = append(v.Failed, fmt.Sprintf("5xx rate %.2f%% more than %.2f points above the stable version's %.2f%%",
			100*v.ErrorRate, 100*a.MaxErrorRateDelta, 100*v.StableErrorRate))
	}
	if a.MaxP95 > 0 && cand.latency.Quantile(0.95) > a.MaxP95 {
		v.Failed = append(v.Failed, fmt.Sprintf("p95 latency %.1fms above the limit %.1fms", v.P95MS, ms(a.MaxP95)))
	}
	return v
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
