package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingBackend is a backend that counts its open connections.
func countingBackend(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var open atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &open
}

// TestTricklingClientsHoldNoBackend: 30 clients that send their headers
// and then trickle a small body hold no backend connection and keep no
// target in flight; each is served once its body is complete.
func TestTricklingClientsHoldNoBackend(t *testing.T) {
	const clients = 30
	be, open := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %d %s", len(b), r.Header.Get("X-Client"))
	})
	front, v1, active, _ := stateFront(t, Options{}, be)

	body := strings.Repeat("x", 4000)
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", front.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
		fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: example.com\r\nX-Client: %d\r\nContent-Length: %d\r\n\r\n%s",
			i, len(body), body[:len(body)/2])
	}
	waitFor(t, "every client's head to be read", func() bool { return active.Load() == clients })
	// A proxy that takes a backend connection per request does so right
	// after the head; give it the time to show.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n, inflight := open.Load(), v1.InFlight(); n != 0 || inflight != 0 {
			t.Fatalf("trickling clients hold %d backend connections, %d requests in flight; want 0", n, inflight)
		}
		time.Sleep(5 * time.Millisecond)
	}

	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := len(body) / 2; j < len(body); j += 500 {
				io.WriteString(c, body[j:j+500])
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 100))
			if want := fmt.Sprintf("got %d %d", len(body), i); resp.StatusCode != 200 || string(b) != want {
				t.Errorf("client %d: %d %q, want 200 %q", i, resp.StatusCode, b, want)
			}
		}()
	}
	wg.Wait()
}

// TestNeverReadingClientCut: a client that asks for a large download and
// never reads it is disconnected after SendTimeout, which releases the
// target and its backend connection.
func TestNeverReadingClientCut(t *testing.T) {
	chunk := make([]byte, 32<<10)
	const size = 256 << 20
	be, open := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	front, v1, _, closed := stateFront(t, Options{SendTimeout: 300 * time.Millisecond}, be)

	c, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: example.com\r\n\r\n")
	waitFor(t, "the download to start", func() bool { return v1.InFlight() == 1 })
	waitFor(t, "the stalled download to be cut", func() bool {
		return v1.InFlight() == 0 && open.Load() == 0 && closed.Load() == 1
	})
}

// stateFront serves a proxy on loopback (configured by ConfigureServer, as
// the daemon does) with be as the live version v1 of service "web" (host
// example.com), and counts client connections that
// became active (a request head arrived) and that were closed.
func stateFront(t *testing.T, o Options, be *httptest.Server) (srv *httptest.Server, v1 *Target, active, closed *atomic.Int64) {
	t.Helper()
	o.Logger = discardLogger()
	p := New(o)
	active, closed = new(atomic.Int64), new(atomic.Int64)
	srv = httptest.NewUnstartedServer(p)
	p.ConfigureServer(srv.Config) // as the daemon serves it
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateActive:
			active.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s, err := p.SetService("web", []string{"example.com"}, "", ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v1 = target(t, s, "v1", be)
	s.Switch(v1)
	return srv, v1, active, closed
}

// TestClientErrorsNotBlamedOnTarget: malformed chunked bodies (buffered and
// streamed) and a body that stops arriving are answered 400, counted as
// the service's client errors, and never as the target's requests, errors
// or latency.
func TestClientErrorsNotBlamedOnTarget(t *testing.T) {
	be, _ := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	front, v1, _, _ := stateFront(t, Options{ClientBodyTimeout: 200 * time.Millisecond}, be)
	s := v1.svc

	big := strings.Repeat("8000\r\n"+strings.Repeat("x", 0x8000)+"\r\n", 3) // 96 KiB of good chunks: streamed
	for i, tc := range []struct{ name, raw string }{
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
		{"bad chunk size after streaming began", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n" +
			big + "zz\r\nhello\r\n0\r\n\r\n"},
		{"missing chunk terminator", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"},
		{"body stops arriving", "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\nhalf"},
	} {
		c, err := net.Dial("tcp", front.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, tc.raw)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tc.name, resp.StatusCode)
		}
		if got := s.ClientErrors(); got != uint64(i+1) {
			t.Errorf("%s: %d client errors, want %d", tc.name, got, i+1)
		}
	}
	waitFor(t, "requests to finish", func() bool { return v1.InFlight() == 0 })
	if st := v1.Stats(); st.Requests != 0 || st.TransportErrors != 0 || st.Latency.Count != 0 {
		t.Errorf("client errors entered the target's stats: %+v", st)
	}
	if code, body := getVia(t, front, "/"); code != 200 || body != "ok" {
		t.Errorf("after client errors: %d %q", code, body)
	}
}

func getVia(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Host = "example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSendDeadlineOnKeepAlive: on a keep-alive connection served through
// ConfigureServer, later requests get a send deadline of their own. A
// request after an idle gap longer than SendTimeout is served whole (a
// deadline left over from an earlier request would fail its first write),
// and a download right after it that the client never reads is still cut.
// (net/http clears the write deadline after every request; an attempt to
// keep one per connection across requests to save the timer update fails
// here.)
func TestSendDeadlineOnKeepAlive(t *testing.T) {
	chunk := make([]byte, 32<<10)
	const size = 256 << 20
	be, open := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	const timeout = 300 * time.Millisecond
	srv, v1, _, closed := stateFront(t, Options{SendTimeout: timeout}, be)

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	small := func(when string) {
		t.Helper()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /small HTTP/1.1\r\nHost: example.com\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("%s: %d %q %v", when, resp.StatusCode, b, err)
		}
	}
	small("first request")
	small("second request at once")
	time.Sleep(2 * timeout) // the scenario: a keep-alive gap past the deadline
	small("request after an idle gap of 2 × SendTimeout")

	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: example.com\r\n\r\n")
	waitFor(t, "the download to start", func() bool { return v1.InFlight() == 1 })
	waitFor(t, "the stalled download to be cut", func() bool {
		return v1.InFlight() == 0 && open.Load() == 0 && closed.Load() == 1
	})
}
