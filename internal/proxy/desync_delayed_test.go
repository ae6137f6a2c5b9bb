package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDelayedBodyAfterBodylessAnswer: a careless app answers a HEAD (or a
// 204/304 that declares a length) and then, a moment later, sends a body
// anyway — the file it serves, whose bytes an uploader chose. The head is
// framed exactly and nothing is buffered yet when the connection would go
// back to the pool, so no check sees the body: it must not be pooled, or
// the next user gets those bytes as their response, and every user after
// them the previous one's.
func TestDelayedBodyAfterBodylessAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, method, head string
	}{
		{"HEAD", http.MethodHead, "HTTP/1.1 200 OK\r\nContent-Length: 63\r\n\r\n"},
		{"304 with a length", http.MethodGet, "HTTP/1.1 304 Not Modified\r\nContent-Length: 63\r\n\r\n"},
		{"204 chunked", http.MethodGet, "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := carelessBackend(t, func(c io.Writer, req *http.Request) bool {
				if req.URL.Path != "/file" {
					return false
				}
				io.WriteString(c, tc.head)
				time.Sleep(2 * time.Millisecond)
				io.WriteString(c, smuggled) // the body nobody asked for
				return true
			})
			othersGetTheirOwn(t, addr, func(f *front) *http.Request {
				return f.request(t, tc.method, "example.com", "/file", nil)
			})
		})
	}
}

// othersGetTheirOwn proxies to addr while one client repeats the request
// bad makes and four others each ask for their own path; it fails the
// test when any of those four gets a response that is not theirs.
func othersGetTheirOwn(t *testing.T, addr string, bad func(*front) *http.Request) {
	t.Helper()
	f := newFront(t, Options{ResponseHeaderTimeout: 5 * time.Second})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	s.Switch(newTargetAt(t, s, "v1", addr))
	var wrong, done atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	wg.Add(1)
	go func() { // the requests that get the careless answer
		defer wg.Done()
		for range 300 {
			resp, err := client.Do(bad(f))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	for v := range 4 {
		wg.Add(1)
		go func() { // other users
			defer wg.Done()
			for i := range 300 {
				path := fmt.Sprintf("/u%d-%d", v, i)
				resp, err := client.Do(f.request(t, http.MethodGet, "example.com", path, nil))
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				done.Add(1)
				if string(b) != "own "+path && wrong.Add(1) <= 2 {
					t.Errorf("GET %s got %d %q: another request's response", path, resp.StatusCode, b)
				}
			}
		}()
	}
	wg.Wait()
	if n := wrong.Load(); n > 0 {
		t.Errorf("%d of %d users' requests got another request's response", n, done.Load())
	}
}

// carelessBackend serves HTTP/1.1 on a loopback port, one request at a
// time per connection, never reading a body on its own. answer writes the
// reply to a request it scripts and reports true; any other request gets
// a correct "own /path" response after a millisecond of work, so a
// careless reply written late lands after the proxy is done with its
// exchange.
func carelessBackend(t *testing.T, answer func(c io.Writer, req *http.Request) bool) string {
	t.Helper()
	ln := serveConns(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if answer(c, req) {
				continue
			}
			io.Copy(io.Discard, req.Body)
			time.Sleep(time.Millisecond) // the app's work: a careless late write lands after the exchange
			body := "own " + req.URL.Path
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	})
	return ln.Addr().String()
}
