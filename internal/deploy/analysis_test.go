package deploy

import (
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/proxy"
)

// hist builds a latency histogram with n requests in the bucket that holds d.
func hist(n uint64, d time.Duration) proxy.Histogram {
	bounds := []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second}
	h := proxy.Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1), Count: n}
	i := 0
	for i < len(bounds) && d > bounds[i] {
		i++
	}
	h.Counts[i] = n
	return h
}

func TestJudge(t *testing.T) {
	a := Analysis{MinRequests: 50, MaxErrorRate: 0.05, MaxErrorRateDelta: 0.02, MaxP95: 200 * time.Millisecond}
	ok := window{requests: 100, errors: 1, latency: hist(100, 5*time.Millisecond)}
	tests := []struct {
		name         string
		cand, stable window
		wantOK       bool
		wantEnough   bool
		wantContains string
	}{
		{"healthy", ok, ok, true, true, ""},
		{"too few requests to judge", window{requests: 49, errors: 49, latency: hist(49, time.Millisecond)}, ok, true, false, ""},
		{"absolute 5xx limit", window{requests: 100, errors: 6, latency: hist(100, time.Millisecond)},
			window{requests: 100, errors: 5, latency: hist(100, time.Millisecond)}, false, true, "above the limit 5.00%"},
		{"relative to stable", window{requests: 100, errors: 4, latency: hist(100, time.Millisecond)},
			window{requests: 1000, errors: 1, latency: hist(1000, time.Millisecond)}, false, true, "above the stable"},
		{"stable is as bad: only the delta counts", window{requests: 100, errors: 4, latency: hist(100, time.Millisecond)},
			window{requests: 1000, errors: 30, latency: hist(1000, time.Millisecond)}, true, true, ""},
		{"p95 latency", window{requests: 100, errors: 0, latency: hist(100, 500*time.Millisecond)}, ok, false, true, "p95 latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := a.judge("bake", tt.cand, tt.stable)
			if v.OK() != tt.wantOK || v.NotEnoughRequests == tt.wantEnough {
				t.Fatalf("verdict %s: ok=%v enough=%v, want ok=%v enough=%v", v, v.OK(), !v.NotEnoughRequests, tt.wantOK, tt.wantEnough)
			}
			if tt.wantContains != "" && !strings.Contains(v.String(), tt.wantContains) {
				t.Errorf("verdict %q does not say %q", v, tt.wantContains)
			}
			if !strings.Contains(v.JSON(), `"error_rate"`) {
				t.Errorf("JSON lacks the numbers: %s", v.JSON())
			}
		})
	}
}

func TestSinceSubtractsSnapshots(t *testing.T) {
	before := proxy.Stats{Requests: 10, Codes: [5]uint64{0, 8, 0, 0, 2}, Latency: hist(10, time.Millisecond)}
	now := proxy.Stats{Requests: 30, Codes: [5]uint64{0, 18, 0, 0, 12}, Latency: hist(30, time.Millisecond)}
	w := since(before, now)
	if w.requests != 20 || w.errors != 10 || w.latency.Count != 20 {
		t.Fatalf("window = %+v, want 20 requests, 10 errors, 20 latencies", w)
	}
	if r := w.errorRate(); r != 0.5 {
		t.Errorf("error rate %v, want 0.5", r)
	}
}
