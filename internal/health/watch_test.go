package health

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type change struct {
	healthy bool
	reason  string
}

// switchable answers 200 or 503 as the test decides, and signals when it
// has served a given number of requests.
type switchable struct {
	fail   atomic.Bool
	hits   atomic.Int64
	notify atomic.Int64 // hit count at which to close reached
	reach  chan struct{}
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.hits.Add(1)
	if n == s.notify.Load() {
		close(s.reach)
	}
	if s.fail.Load() {
		w.WriteHeader(503)
	}
}

// waitHits waits until the server has served n more requests.
func (s *switchable) waitHits(t *testing.T, n int64) {
	t.Helper()
	s.reach = make(chan struct{})
	s.notify.Store(s.hits.Load() + n)
	select {
	case <-s.reach:
	case <-time.After(5 * time.Second):
		t.Fatalf("server saw only %d requests", s.hits.Load())
	}
}

func expectChange(t *testing.T, ch <-chan change, healthy bool) change {
	t.Helper()
	select {
	case c := <-ch:
		if c.healthy != healthy {
			t.Fatalf("change = %+v, want healthy=%v", c, healthy)
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatalf("no change to healthy=%v", healthy)
	}
	return change{}
}

func TestWatch(t *testing.T) {
	srv := &switchable{}
	addr := serve(t, srv)
	changes := make(chan change, 10)
	var stopped atomic.Bool
	c := Check{Path: "/health", Interval: 2 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 3}
	w, err := StartWatch(context.Background(), addr, c, func(healthy bool, reason string) {
		if stopped.Load() {
			t.Error("onChange after Stop")
		}
		changes <- change{healthy, reason}
	})
	if err != nil {
		t.Fatal(err)
	}

	srv.waitHits(t, 5)
	if len(changes) != 0 {
		t.Fatalf("change while healthy: %+v", <-changes)
	}
	srv.fail.Store(true)
	ch := expectChange(t, changes, false)
	if !strings.Contains(ch.reason, "3 consecutive failures") || !strings.Contains(ch.reason, "GET /health: 503") {
		t.Errorf("reason = %q", ch.reason)
	}
	srv.fail.Store(false)
	ch = expectChange(t, changes, true)
	if ch.reason != "2 consecutive passes" {
		t.Errorf("reason = %q", ch.reason)
	}
	w.Stop()
	stopped.Store(true)
	if len(changes) != 0 {
		t.Errorf("extra changes: %+v", <-changes)
	}
}

// TestWatchFlappingStaysHealthy: isolated failures below the threshold do
// not flip the state.
func TestWatchFlappingStaysHealthy(t *testing.T) {
	flap := &scripted{statuses: []int{200, 503, 503}, cycle: true}
	addr := serve(t, flap)
	changes := make(chan change, 10)
	c := Check{Path: "/health", Interval: time.Millisecond, Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 3}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, addr, c, func(h bool, r string) { changes <- change{h, r} }) }()

	deadline := time.Now().Add(5 * time.Second)
	for flap.hits.Load() < 30 && time.Now().Before(deadline) {
		select {
		case ch := <-changes:
			t.Fatalf("flapping below the threshold changed state: %+v", ch)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch returned %v, want context.Canceled", err)
	}
	if len(changes) != 0 {
		t.Errorf("state changed: %+v", <-changes)
	}
}

func TestStartWatchInvalid(t *testing.T) {
	if _, err := StartWatch(context.Background(), "127.0.0.1:1", Check{}, func(bool, string) {}); err == nil {
		t.Error("invalid check accepted")
	}
}
