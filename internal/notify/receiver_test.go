package notify

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a real local HTTP endpoint whose answers a test scripts.
type receiver struct {
	srv *httptest.Server
	got chan received // every request, in arrival order

	mu   sync.Mutex // guards reqs
	reqs []received
}

// newReceiver answers the n-th request (1-based) with respond.
func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{got: make(chan received, 1000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("receiver read: %v", err)
		}
		got := received{header: r.Header.Clone(), body: body}
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, got)
		n := len(rc.reqs)
		rc.mu.Unlock()
		rc.got <- got
		respond(n, w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// next waits for the receiver's next request, failing after a generous
// deadline (a hang is the failure being tested for, not a timing budget).
func (rc *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-rc.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("receiver got no request")
		return received{}
	}
}

// closedURL is an http URL on a loopback port nobody listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// fastOptions retry quickly so tests do not wait on real backoff.
func fastOptions() Options {
	return Options{BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, AttemptTimeout: 5 * time.Second}
}

func closeOK(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// mustSink unwraps a sink constructor's result; the URLs in these tests
// are valid, so an error is a bug worth a panic.
func mustSink(s *HTTPSink, err error) *HTTPSink {
	if err != nil {
		panic(err)
	}
	return s
}

// returnsPromptly runs f and fails if it has not returned by a generous
// deadline: a Notify that blocks on a receiver would hang here.
func returnsPromptly(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s blocked", what)
	}
}
