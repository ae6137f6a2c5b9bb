package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

// A calm Interval for the tests below: a WaitHealthy that waited it out
// would fail by the test's own context long before.
const hour = time.Hour

// TestPortOpeningLateIsSeenAtOnce (issue 14): the first attempts meet a
// closed port; once the app listens, it is probed without waiting out the
// interval. Before the fix the second probe came an interval later.
func TestPortOpeningLateIsSeenAtOnce(t *testing.T) {
	addr := closedAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	attempts := 0
	listening := make(chan struct{})
	go func() {
		<-listening
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		srv := &http.Server{Handler: &scripted{statuses: []int{200}}}
		go func() { <-ctx.Done(); srv.Close() }()
		_ = srv.Serve(l)
	}()
	c := Check{Path: "/health", Interval: hour, Timeout: time.Second, HealthyThreshold: 1, Deadline: hour}
	err := WaitHealthy(ctx, addr, c, nil, func(p Probe) {
		if attempts++; attempts == 2 {
			close(listening) // the app starts listening after two refused attempts
		}
	})
	if err != nil {
		t.Fatalf("WaitHealthy: %v (after %d attempts)", err, attempts)
	}
	if attempts < 3 {
		t.Fatalf("healthy after %d attempts; the first two were refused", attempts)
	}
}

// TestStartIntervalJudgesQuickly: once the port is open, the passes come
// StartInterval apart, not Interval apart.
func TestStartIntervalJudgesQuickly(t *testing.T) {
	srv := &scripted{statuses: []int{503, 200, 200, 200}}
	addr := serve(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := Check{Path: "/health", Interval: hour, StartInterval: time.Millisecond, Timeout: time.Second, HealthyThreshold: 3, Deadline: hour}
	if err := WaitHealthy(ctx, addr, c, nil, nil); err != nil {
		t.Fatalf("WaitHealthy: %v", err)
	}
	if n := srv.hits.Load(); n != 4 {
		t.Fatalf("%d probes, want 4 (one failure, three passes)", n)
	}
}

// TestStartTimeoutFailsBeforeDeadline: an app that never listens fails at
// StartTimeout, naming it, not at the (long) Deadline.
func TestStartTimeoutFailsBeforeDeadline(t *testing.T) {
	addr := closedAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := Check{Path: "/health", Interval: hour, Timeout: time.Second, HealthyThreshold: 1, Deadline: hour, StartTimeout: 100 * time.Millisecond}
	err := WaitHealthy(ctx, addr, c, nil, nil)
	var de *DeadlineError
	if !errors.As(err, &de) || !errors.Is(err, ErrPortNeverOpened) {
		t.Fatalf("err = %v, want a port-never-opened DeadlineError", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("failed only when the test's context ended: %v", err)
	}
	if de.Deadline != c.StartTimeout || de.Probes < 2 {
		t.Fatalf("error names limit %s after %d attempts; want the start timeout %s and repeated attempts", de.Deadline, de.Probes, c.StartTimeout)
	}
}

// TestStartTimeoutIgnoredOnceOpen: a port that opened but answers 503 is
// judged until the deadline, not cut at the start timeout.
func TestStartTimeoutIgnoredOnceOpen(t *testing.T) {
	srv := &scripted{statuses: []int{503}}
	addr := serve(t, srv)
	c := Check{Path: "/health", Interval: 5 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 1, Deadline: 300 * time.Millisecond, StartTimeout: 50 * time.Millisecond}
	err := WaitHealthy(context.Background(), addr, c, nil, nil)
	var de *DeadlineError
	if !errors.As(err, &de) || errors.Is(err, ErrPortNeverOpened) || de.Deadline != c.Deadline {
		t.Fatalf("err = %v, want an unhealthy-at-deadline error naming %s", err, c.Deadline)
	}
}
