package proxy

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestStatsCounting(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	v1 := target(t, s, "v1", backend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/boom":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/missing":
			http.NotFound(w, r)
		default:
			w.Write([]byte("v1\n"))
		}
	}))
	s.Switch(v1)
	for path, n := range map[string]int{"/": 10, "/missing": 3, "/boom": 2} {
		for range n {
			f.get(t, "example.com", path)
		}
	}
	st := v1.Stats()
	if st.Requests != 15 || st.Codes != [5]uint64{0, 10, 0, 3, 2} || st.ServerErrors() != 2 || st.TransportErrors != 0 {
		t.Fatalf("stats = %+v", st)
	}
	h := st.Latency
	if h.Count != 15 || len(h.Counts) != len(h.Bounds)+1 || h.Sum <= 0 {
		t.Fatalf("histogram = %+v", h)
	}
	p50, p99 := h.Quantile(0.5), h.Quantile(0.99)
	if p50 <= 0 || p50 > p99 || p99 > time.Second {
		t.Errorf("p50 %v p99 %v: want 0 < p50 ≤ p99 < 1s on loopback", p50, p99)
	}

	dead, _ := s.NewTarget("v0", deadAddr(t))
	s.Switch(dead)
	if code, _ := f.get(t, "example.com", "/"); code != http.StatusBadGateway {
		t.Fatalf("dead target = %d, want 502", code)
	}
	if st := dead.Stats(); st.TransportErrors != 2 || st.ServerErrors() != 1 || st.Latency.Count != 0 {
		t.Errorf("dead target stats = %+v, want 2 transport errors (attempt + retry), one 5xx, no latency", st)
	}
}

func TestHistogramQuantile(t *testing.T) {
	h := Histogram{Bounds: latencyBounds[:], Counts: make([]uint64, numBuckets)}
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("empty histogram p50 = %v", got)
	}
	// 100 samples: 50 in (0, 0.5ms], 40 in (1ms, 2.5ms], 10 above 30s.
	h.Counts[0], h.Counts[2], h.Counts[numBuckets-1] = 50, 40, 10
	h.Count = 100
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.25, 250 * time.Microsecond}, // halfway through the first bucket
		{0.5, 500 * time.Microsecond},  // its top
		{0.7, 1750 * time.Microsecond}, // halfway through (1ms, 2.5ms]
		{0.9, 2500 * time.Microsecond}, // top of that bucket
		{0.99, 30 * time.Second},       // +Inf bucket reports the last bound
		{1.5, 30 * time.Second},        // clamped
	} {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

// TestCollector checks the Prometheus series, including a drained target
// that stays visible and two targets of one version summed together.
func TestCollector(t *testing.T) {
	f := newFront(t, Options{RetainDrained: 2})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	srv := backend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	})
	v1 := target(t, s, "v1", srv)
	s.Switch(v1)
	for _, p := range []string{"/", "/", "/boom"} {
		f.get(t, "example.com", p)
	}
	v2 := target(t, s, "v2", srv)
	s.Switch(v2)
	if err := v1.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.get(t, "example.com", "/")
	dead, _ := s.NewTarget("v2", deadAddr(t)) // same version, second instance
	s.SetCanary(dead, 0)

	c := f.p.Collector()
	want := `
# HELP hotswap_requests_total Requests finished by a version, by status class as the client saw it (proxy 502/504 included).
# TYPE hotswap_requests_total counter
hotswap_requests_total{code="1xx",service="web",version="v1"} 0
hotswap_requests_total{code="2xx",service="web",version="v1"} 2
hotswap_requests_total{code="3xx",service="web",version="v1"} 0
hotswap_requests_total{code="4xx",service="web",version="v1"} 0
hotswap_requests_total{code="5xx",service="web",version="v1"} 1
hotswap_requests_total{code="1xx",service="web",version="v2"} 0
hotswap_requests_total{code="2xx",service="web",version="v2"} 1
hotswap_requests_total{code="3xx",service="web",version="v2"} 0
hotswap_requests_total{code="4xx",service="web",version="v2"} 0
hotswap_requests_total{code="5xx",service="web",version="v2"} 0
# HELP hotswap_inflight Requests, streams and upgraded connections a version is serving now.
# TYPE hotswap_inflight gauge
hotswap_inflight{service="web",version="v1"} 0
hotswap_inflight{service="web",version="v2"} 0
# HELP hotswap_upstream_errors_total Attempts that got no usable response from a version: refused or failed connections, resets, timeouts.
# TYPE hotswap_upstream_errors_total counter
hotswap_upstream_errors_total{service="web",version="v1"} 0
hotswap_upstream_errors_total{service="web",version="v2"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"hotswap_requests_total", "hotswap_inflight", "hotswap_upstream_errors_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "hotswap_request_duration_seconds"); n != 2 {
		t.Errorf("duration series = %d, want 2 (v1, v2)", n)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	// Retention: only the last RetainDrained drained targets stay.
	for _, v := range []string{"r1", "r2", "r3"} {
		tg, _ := s.NewTarget(v, srv.Listener.Addr().String())
		tg.Drain(context.Background())
	}
	got := map[string]bool{}
	for _, tg := range s.allTargets() {
		got[tg.Version()] = true
	}
	if got["v1"] || got["r1"] || !got["r2"] || !got["r3"] || !got["v2"] {
		t.Errorf("targets visible after retention = %v, want v2 (two), r2, r3", got)
	}
}
