package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scripted serves the given statuses in turn, repeating the last one
// forever (or cycling when cycle is set), and counts requests.
type scripted struct {
	statuses []int
	cycle    bool
	body     string
	hits     atomic.Int64
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(s.hits.Add(1)) - 1
	i := min(n, len(s.statuses)-1)
	if s.cycle {
		i = n % len(s.statuses)
	}
	w.WriteHeader(s.statuses[i])
	_, _ = w.Write([]byte(s.body))
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// closedAddr returns a loopback address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func fast(threshold int, deadline time.Duration) Check {
	return Check{Path: "/health", Interval: time.Millisecond, Timeout: time.Second, HealthyThreshold: threshold, Deadline: deadline}
}

// TestThresholdCounting checks that only consecutive passes count: a
// failure in the middle starts the streak again.
func TestThresholdCounting(t *testing.T) {
	srv := &scripted{statuses: []int{503, 200, 200, 503, 204, 302, 200, 500}}
	addr := serve(t, srv)
	var got []Probe
	err := WaitHealthy(context.Background(), addr, fast(3, 10*time.Second), nil, func(p Probe) { got = append(got, p) })
	if err != nil {
		t.Fatalf("WaitHealthy: %v", err)
	}
	wantStreak := []int{0, 1, 2, 0, 1, 2, 3}
	wantStatus := []int{503, 200, 200, 503, 204, 302, 200}
	if len(got) != len(wantStreak) {
		t.Fatalf("%d probes, want %d: %+v", len(got), len(wantStreak), got)
	}
	for i, p := range got {
		if p.Streak != wantStreak[i] || p.Status != wantStatus[i] || p.OK != (wantStatus[i] < 400) {
			t.Errorf("probe %d = %+v, want status %d streak %d", i, p, wantStatus[i], wantStreak[i])
		}
		if p.OK != (p.Err == nil) || p.Latency <= 0 {
			t.Errorf("probe %d: OK %v, Err %v, latency %v", i, p.OK, p.Err, p.Latency)
		}
	}
	if !strings.Contains(got[0].Err.Error(), "GET /health: 503 Service Unavailable") {
		t.Errorf("failure message %q", got[0].Err)
	}
}

// TestAlternatingNeverHealthy: a flapping instance never reaches the
// threshold and fails at the deadline, reported as unhealthy (not as a
// port that never opened).
func TestAlternatingNeverHealthy(t *testing.T) {
	addr := serve(t, &scripted{statuses: []int{200, 503}, cycle: true})
	start := time.Now()
	err := WaitHealthy(context.Background(), addr, fast(2, 150*time.Millisecond), nil, nil)
	elapsed := time.Since(start)
	var de *DeadlineError
	if !errors.As(err, &de) || !errors.Is(err, ErrDeadline) || errors.Is(err, ErrPortNeverOpened) {
		t.Fatalf("err = %v, want a DeadlineError for an opened port", err)
	}
	if de.Streak > 1 || de.Needed != 2 || de.Probes < 2 || !de.Opened {
		t.Errorf("detail = %+v", de)
	}
	if elapsed < 150*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("returned after %v, deadline 150ms", elapsed)
	}
}

func TestAlways503(t *testing.T) {
	addr := serve(t, &scripted{statuses: []int{503}, body: "database not ready\nmore"})
	err := WaitHealthy(context.Background(), addr, fast(1, 100*time.Millisecond), nil, nil)
	if !errors.Is(err, ErrDeadline) || errors.Is(err, ErrPortNeverOpened) {
		t.Fatalf("err = %v", err)
	}
	want := "last failure: GET /health: 503 Service Unavailable: database not ready"
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "more") {
		t.Errorf("err = %q, want it to contain %q", err, want)
	}
}

func TestPortNeverOpened(t *testing.T) {
	for _, path := range []string{"/health", ""} {
		c := fast(1, 100*time.Millisecond)
		c.Path = path
		addr := closedAddr(t)
		probes := 0
		err := WaitHealthy(context.Background(), addr, c, nil, func(p Probe) {
			probes++
			if p.OK || p.Status != 0 {
				t.Errorf("probe of a closed port: %+v", p)
			}
		})
		if !errors.Is(err, ErrPortNeverOpened) || !errors.Is(err, ErrDeadline) {
			t.Fatalf("path %q: err = %v, want ErrPortNeverOpened", path, err)
		}
		if !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), addr) || probes == 0 {
			t.Errorf("path %q: err = %q after %d probes", path, err, probes)
		}
	}
}

// TestHungServer: an instance that accepts but never answers has opened
// its port; each probe fails at the timeout.
func TestHungServer(t *testing.T) {
	release := make(chan struct{})
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer close(release)
	c := fast(1, 300*time.Millisecond)
	c.Timeout = 20 * time.Millisecond
	err := WaitHealthy(context.Background(), addr, c, nil, nil)
	if !errors.Is(err, ErrDeadline) || errors.Is(err, ErrPortNeverOpened) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "GET /health: no answer within 20ms") {
		t.Errorf("err = %q", err)
	}
}

func TestExited(t *testing.T) {
	addr := serve(t, &scripted{statuses: []int{503}})
	exited := make(chan struct{})
	probes := 0
	err := WaitHealthy(context.Background(), addr, fast(1, 10*time.Second), exited, func(Probe) {
		probes++
		if probes == 3 {
			close(exited)
		}
	})
	if !errors.Is(err, ErrExited) || errors.Is(err, ErrDeadline) {
		t.Fatalf("err = %v, want ErrExited", err)
	}
	if probes != 3 || !strings.Contains(err.Error(), "503") {
		t.Errorf("%d probes, err %q", probes, err)
	}

	// Already exited: a healthy answer (from whatever holds the port) must
	// not count.
	healthy := serve(t, &scripted{statuses: []int{200}})
	err = WaitHealthy(context.Background(), healthy, fast(1, 10*time.Second), exited, nil)
	if !errors.Is(err, ErrExited) {
		t.Fatalf("pre-closed exited: err = %v", err)
	}
}

func TestContextCanceled(t *testing.T) {
	addr := serve(t, &scripted{statuses: []int{503}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	probes := 0
	err := WaitHealthy(ctx, addr, fast(1, 10*time.Second), nil, func(Probe) {
		probes++
		if probes == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrDeadline) || probes != 2 {
		t.Fatalf("err = %v after %d probes, want context.Canceled after 2", err, probes)
	}
}

func TestTCPCheck(t *testing.T) {
	srv := &scripted{statuses: []int{500}}
	addr := serve(t, srv)
	c := fast(2, 10*time.Second)
	c.Path = ""
	var got []Probe
	if err := WaitHealthy(context.Background(), addr, c, nil, func(p Probe) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Status != 0 || got[1].Streak != 2 || srv.hits.Load() != 0 {
		t.Errorf("probes %+v, HTTP hits %d", got, srv.hits.Load())
	}
}

// TestRedirectPassesUnfollowed: 3xx passes and the target is not fetched.
func TestRedirectPassesUnfollowed(t *testing.T) {
	var followed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		followed.Store(true)
		w.WriteHeader(500)
	})
	if err := WaitHealthy(context.Background(), serve(t, mux), fast(2, 10*time.Second), nil, nil); err != nil {
		t.Fatal(err)
	}
	if followed.Load() {
		t.Error("redirect followed")
	}
}

// TestIntervalAndHost: probes start Interval apart, and carry Host.
func TestIntervalAndHost(t *testing.T) {
	var hosts []string
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts = append(hosts, r.Host) // requests are sequential: probes never overlap
	}))
	c := fast(3, 10*time.Second)
	c.Interval = 40 * time.Millisecond
	c.Host = "app.example"
	start := time.Now()
	if err := WaitHealthy(context.Background(), addr, c, nil, nil); err != nil {
		t.Fatal(err)
	}
	if e := time.Since(start); e < 80*time.Millisecond {
		t.Errorf("3 probes took %v, want at least 2 intervals (80ms)", e)
	}
	if len(hosts) != 3 || hosts[0] != "app.example" {
		t.Errorf("hosts = %v", hosts)
	}
}

func TestInvalidCheck(t *testing.T) {
	for _, c := range []Check{
		{Interval: 0, Timeout: time.Second, HealthyThreshold: 1, Deadline: time.Second},
		{Interval: time.Second, Timeout: time.Second, HealthyThreshold: 0, Deadline: time.Second},
		{Interval: time.Second, Timeout: time.Second, HealthyThreshold: 1},
		{Path: "health", Interval: time.Second, Timeout: time.Second, HealthyThreshold: 1, Deadline: time.Second},
	} {
		if err := WaitHealthy(context.Background(), "127.0.0.1:1", c, nil, nil); err == nil || errors.Is(err, ErrDeadline) {
			t.Errorf("%+v: err = %v", c, err)
		}
	}
}

func TestProbeOnce(t *testing.T) {
	p := ProbeOnce(context.Background(), serve(t, &scripted{statuses: []int{200}}), fast(1, time.Second))
	if !p.OK || p.Status != 200 || p.Streak != 1 {
		t.Errorf("probe = %+v", p)
	}
	p = ProbeOnce(context.Background(), closedAddr(t), fast(1, time.Second))
	if p.OK || p.Err == nil {
		t.Errorf("probe of closed port = %+v", p)
	}
}

func TestStrings(t *testing.T) {
	if d := (Check{Path: "/up"}).Describe(); d != "GET /up" {
		t.Errorf("Describe = %q", d)
	}
	if d := (Check{}).Describe(); d != "TCP connect" {
		t.Errorf("Describe = %q", d)
	}
	p := ProbeOnce(context.Background(), serve(t, &scripted{statuses: []int{503}}), fast(1, time.Second))
	if s := p.String(); !strings.HasPrefix(s, "GET /health: 503 Service Unavailable (in ") {
		t.Errorf("String = %q", s)
	}
	if s := (Probe{OK: true, Status: 200, Latency: 3 * time.Millisecond}).String(); s != "passed: 200 in 3ms" {
		t.Errorf("String = %q", s)
	}
}
