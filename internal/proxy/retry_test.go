package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRetryRefusedDial: a target whose port refuses connections never saw
// the request, so it is retried once on whatever is live by then — for
// any method, body included.
func TestRetryRefusedDial(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	dead, err := s.NewTarget("v1", deadAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	bodies := make(chan string, 4)
	v2 := target(t, s, "v2", backend(t, "v2", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- r.Method + " " + string(b)
		io.WriteString(w, "v2\n")
	}))
	var switchOnRetry atomic.Bool
	switchOnRetry.Store(true)
	f.p.testBeforeRetry = func() { // set before any traffic
		if switchOnRetry.Load() {
			s.Switch(v2) // the engine switched meanwhile
		}
	}

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		s.Switch(dead)
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader("payload")
		}
		resp, err := f.client.Do(f.request(t, method, "example.com", "/", body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "v2\n" {
			t.Fatalf("%s = %d %q, want 200 from v2", method, resp.StatusCode, b)
		}
		want := method + " "
		if method == http.MethodPost {
			want += "payload"
		}
		if got := <-bodies; got != want {
			t.Errorf("v2 saw %q, want %q", got, want)
		}
	}
	if st := dead.Stats(); st.TransportErrors != 2 || st.Requests != 0 {
		t.Errorf("dead target stats: %d transport errors, %d requests; want 2, 0", st.TransportErrors, st.Requests)
	}

	// With nothing better live, the single retry fails too: 502.
	switchOnRetry.Store(false)
	s.Switch(dead)
	if code, body := f.get(t, "example.com", "/"); code != 502 || !strings.Contains(body, "could not be reached") {
		t.Errorf("all targets dead = %d %q, want 502", code, body)
	}
	if st := dead.Stats(); st.TransportErrors != 4 || st.ServerErrors() != 1 {
		t.Errorf("after 502: %d transport errors, %d 5xx; want 4, 1", st.TransportErrors, st.ServerErrors())
	}
}

// TestNoRetryOnceTargetSawRequest: a target that accepts a request and
// drops the connection may have acted on it; the proxy answers 502 and
// does not send it again.
func TestNoRetryOnceTargetSawRequest(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	var hits atomic.Int64
	s.Switch(target(t, s, "v1", backend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})))
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		hits.Store(0)
		resp, err := f.client.Do(f.request(t, method, "example.com", "/charge", strings.NewReader("x")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 502 {
			t.Errorf("%s status = %d, want 502", method, resp.StatusCode)
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("%s reached the target %d times, want exactly 1", method, n)
		}
	}
}

// rawKeepAliveBackend answers one request per connection as if keeping it
// alive, then closes it (the race a keep-alive timeout creates) and reports
// each close on closed.
func rawKeepAliveBackend(t *testing.T, hits *atomic.Int64, closed chan<- struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() {
					conn.Close()
					closed <- struct{}{}
				}()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				hits.Add(1)
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
			}()
		}
	}()
	return ln.Addr().String()
}

// TestRetryStaleKeepAlive: a pooled connection the target closed while
// idle is found closed by the probe before reuse, so no request is sent on
// it and none fails, a POST included. (One closed between the probe and the
// request yields EOF before any byte; an idempotent request is then
// replayed on a fresh connection.)
func TestRetryStaleKeepAlive(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	var hits atomic.Int64
	closed := make(chan struct{}, 16)
	v1, err := s.NewTarget("v1", rawKeepAliveBackend(t, &hits, closed))
	if err != nil {
		t.Fatal(err)
	}
	s.Switch(v1)

	for i := 0; i < 3; i++ {
		if code, body := f.get(t, "example.com", "/"); code != 200 || body != "ok\n" {
			t.Fatalf("GET %d = %d %q", i, code, body)
		}
		<-closed // the pooled connection is now stale
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("backend served %d requests, want 3", n)
	}
	if st := v1.Stats(); st.TransportErrors != 0 || st.Codes[1] != 3 {
		t.Errorf("stats: %d transport errors, %d 2xx; want 0 (stale connections probed), 3", st.TransportErrors, st.Codes[1])
	}

	resp, err := f.client.Do(f.request(t, http.MethodPost, "example.com", "/", strings.NewReader("data")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("POST after a stale connection = %d, want 200", resp.StatusCode)
	}
	if n, st := hits.Load(), v1.Stats(); n != 4 || st.TransportErrors != 0 {
		t.Errorf("after POST: backend served %d, %d transport errors; want 4, 0", n, st.TransportErrors)
	}
}
