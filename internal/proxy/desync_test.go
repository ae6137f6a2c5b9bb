package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawBackend is a careless HTTP/1.1 app: it reads requests off each
// connection in turn (never reading a body unless told to), and answers a
// path listed in script with exactly the bytes given, or any other path
// with a correct response that names the path ("own /path"), so a client
// can tell its own response from someone else's. It keeps connections open
// until the test ends unless a script entry closes it.
type rawBackend struct {
	ln net.Listener

	mu     sync.Mutex
	script map[string]rawReply
	wrote  chan string // path of every scripted reply, after its bytes were written
}

// rawReply is a scripted answer.
type rawReply struct {
	bytes    string
	readBody bool // consume the request body (by Content-Length) first
	close    bool // close the connection after writing
}

func newRawBackend(t testing.TB, script map[string]rawReply) *rawBackend {
	t.Helper()
	b := &rawBackend{script: script, wrote: make(chan string, 64)}
	b.ln = serveConns(t, b.serveConn)
	return b
}

// serveConns accepts connections on a new loopback listener and runs serve
// on each in its own goroutine; cleanup closes the listener and every
// connection and waits for them.
func serveConns(t testing.TB, serve func(net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var connsMu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connsMu.Lock()
			conns = append(conns, c)
			connsMu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln
}

func (b *rawBackend) addr() string { return b.ln.Addr().String() }

func (b *rawBackend) serveConn(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b.mu.Lock()
		reply, scripted := b.script[req.URL.Path]
		b.mu.Unlock()
		if !scripted {
			// A correct server: consume the body, answer with the path.
			io.Copy(io.Discard, req.Body)
			body := "own " + req.URL.Path
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nSet-Cookie: user=%s\r\n\r\n%s",
				len(body), req.URL.Path, body)
			continue
		}
		if reply.readBody {
			io.Copy(io.Discard, req.Body)
		}
		// Otherwise the body stays in br, to be parsed as the next request.
		io.WriteString(c, reply.bytes)
		b.wrote <- req.URL.Path
		if reply.close {
			return
		}
	}
}

// smuggled is a complete response that a broken proxy hands to the next
// client.
const smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 17\r\nX-Smuggled: yes\r\n\r\nSMUGGLED-RESPONSE"

// TestMisbehavingBackendNoDesync sends, for each way a backend can frame a
// response wrongly, one request that gets the misbehaving answer, checks
// what its client receives, and then checks that the next three clients
// (each on a new connection: other users) each receive their own response
// and nothing left over from the bad one.
func TestMisbehavingBackendNoDesync(t *testing.T) {
	type outcome struct {
		status int    // 0: the client must see a broken response (an error)
		body   string // when status != 0
	}
	for _, tc := range []struct {
		name   string
		method string
		body   string // request body, sent with Content-Length
		reply  rawReply
		want   outcome
	}{
		{name: "short content-length then a second response",
			reply: rawReply{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + smuggled},
			want:  outcome{200, "hello"}},
		{name: "long content-length then close",
			reply: rawReply{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nhello", close: true},
			want:  outcome{0, ""}},
		{name: "close mid-body",
			reply: rawReply{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + strings.Repeat("x", 5000), close: true},
			want:  outcome{0, ""}},
		{name: "duplicate conflicting content-length",
			reply: rawReply{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 22\r\n\r\nhello" + smuggled},
			want:  outcome{502, ""}},
		{name: "content-length list with different values",
			reply: rawReply{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 5, 22\r\n\r\nhello" + smuggled},
			want:  outcome{502, ""}},
		{name: "signed content-length",
			reply: rawReply{bytes: "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello" + smuggled},
			want:  outcome{502, ""}},
		{name: "non-numeric content-length",
			reply: rawReply{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello" + smuggled},
			want:  outcome{502, ""}},
		{name: "head answered with a body", method: http.MethodHead,
			reply: rawReply{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n" + smuggled},
			want:  outcome{200, ""}},
		{name: "204 with a body",
			reply: rawReply{bytes: "HTTP/1.1 204 No Content\r\n\r\n" + smuggled},
			want:  outcome{204, ""}},
		{name: "304 with a body",
			reply: rawReply{bytes: "HTTP/1.1 304 Not Modified\r\nContent-Length: 17\r\n\r\n" + smuggled},
			want:  outcome{304, ""}},
		{name: "early answer to an unread request body", method: http.MethodPost,
			body:  "GET /smuggle HTTP/1.1\r\nHost: x\r\n\r\n",
			reply: rawReply{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly"},
			want:  outcome{200, "early"}},
		{name: "garbage after a chunked body",
			reply: rawReply{bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + smuggled},
			want:  outcome{200, "hello"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := map[string]rawReply{
				"/bad": tc.reply,
				// What the unread POST body becomes on the backend.
				"/smuggle": {bytes: smuggled},
			}
			be := newRawBackend(t, script)
			f := newFront(t, Options{ResponseHeaderTimeout: 5 * time.Second})
			s := f.service(t, "web", "example.com", "", ServiceOptions{})
			s.Switch(newTargetAt(t, s, "v1", be.addr()))

			// Warm the pool so the bad exchange runs on a pooled connection.
			for i := range 2 {
				checkOwn(t, f, fmt.Sprintf("/warm%d", i))
			}

			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req := f.request(t, method, "example.com", "/bad", body)
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
			started := time.Now()
			resp, err := client.Do(req)
			var got string
			if err == nil {
				b, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				got, err = string(b), rerr
			}
			switch {
			case tc.want.status == 0:
				if err == nil {
					t.Errorf("client got a clean %d %q, want a broken response", resp.StatusCode, got)
				}
			case err != nil:
				t.Fatalf("client: %v (after %v), want %d %q", err, time.Since(started), tc.want.status, tc.want.body)
			case resp.StatusCode != tc.want.status || (tc.want.status != 502 && got != tc.want.body):
				t.Errorf("client got %d %q, want %d %q", resp.StatusCode, got, tc.want.status, tc.want.body)
			}
			// Every byte the backend meant to send is on the wire before the
			// next clients ask: a proxy that reuses the connection now hands
			// them out.
			waitWrote(t, be, "/bad")
			if tc.body != "" {
				waitWrote(t, be, "/smuggle")
			}
			for i := range 3 {
				checkOwn(t, f, fmt.Sprintf("/next%d", i))
			}
		})
	}
}

// TestInterimResponsesForwarded checks that 100 Continue and 103 Early
// Hints reach the client before the final response, and that the hints'
// fields do not leak into the final response.
func TestInterimResponsesForwarded(t *testing.T) {
	be := newRawBackend(t, map[string]rawReply{
		"/hints": {bytes: "HTTP/1.1 100 Continue\r\n\r\n" +
			"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"},
	})
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	s.Switch(newTargetAt(t, s, "v1", be.addr()))

	var mu sync.Mutex
	var interim []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		mu.Lock()
		interim = append(interim, fmt.Sprintf("%d %s", code, h.Get("Link")))
		mu.Unlock()
		return nil
	}}
	req := f.request(t, http.MethodGet, "example.com", "/hints", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	want := []string{"100 ", "103 </style.css>; rel=preload"}
	if fmt.Sprint(interim) != fmt.Sprint(want) {
		t.Errorf("interim responses = %q, want %q", interim, want)
	}
	if resp.StatusCode != 200 || string(b) != "done" || resp.Header.Get("Link") != "" {
		t.Errorf("final = %d %q Link %q, want 200 \"done\" and no Link", resp.StatusCode, b, resp.Header.Get("Link"))
	}
	checkOwn(t, f, "/after")
}

// TestIdleUpstreamReaped checks that pooled connections are closed after
// IdleConnTimeout even when no request comes to notice it.
func TestIdleUpstreamReaped(t *testing.T) {
	var mu sync.Mutex
	open := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "v1\n")
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch st {
		case http.StateNew:
			open++
		case http.StateClosed, http.StateHijacked:
			open--
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	f := newFront(t, Options{IdleConnTimeout: 200 * time.Millisecond})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	s.Switch(target(t, s, "v1", srv))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if code, _ := f.get(t, "example.com", "/"); code != 200 {
					t.Errorf("status %d", code)
				}
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	n := open
	mu.Unlock()
	if n == 0 {
		t.Fatal("no upstream connection is open after the burst; the test proves nothing")
	}
	waitFor(t, "idle upstream connections to be reaped", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return open == 0
	})
}

// newTargetAt registers addr as a version of s.
func newTargetAt(t testing.TB, s *Service, version, addr string) *Target {
	t.Helper()
	tg, err := s.NewTarget(version, addr)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// checkOwn asks for path from a new client connection and fails unless
// the answer is the backend's correct response for that very path.
func checkOwn(t *testing.T, f *front, path string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Do(f.request(t, http.MethodGet, "example.com", path, nil))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("GET %s: read: %v", path, err)
	}
	if resp.StatusCode != 200 || string(b) != "own "+path || resp.Header.Get("Set-Cookie") != "user="+path ||
		resp.Header.Get("X-Smuggled") != "" {
		t.Fatalf("GET %s got %d %q (Set-Cookie %q, X-Smuggled %q): another request's response",
			path, resp.StatusCode, b, resp.Header.Get("Set-Cookie"), resp.Header.Get("X-Smuggled"))
	}
}

// waitWrote waits until the backend wrote its scripted reply to path.
func waitWrote(t *testing.T, b *rawBackend, path string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-b.wrote:
			if p == path {
				return
			}
		case <-deadline:
			t.Fatalf("backend never answered %s", path)
		}
	}
}
