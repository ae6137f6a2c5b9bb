package proxy

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// maxProxyAllocs is the most heap allocations the proxy's own share of a
// small proxied GET may make (ServeHTTP with the default options: request
// id, send deadline, per-version stats; reusing a pooled upstream
// connection). net/http's server work around it (request parsing, the
// response writer) is not counted: it is the same for any handler. Lower
// it when the code gets leaner; never raise it without saying why in
// bench/RESULTS.md.
const maxProxyAllocs = 4

// cannedBackend is a loopback HTTP/1.1 server that allocates nothing per
// request: it reads each request head into a fixed buffer and answers the
// same small response, so allocation counts measure the proxy alone.
func cannedBackend(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\nhello from the backend\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				defer c.Close()
				var buf [8 << 10]byte
				n := 0
				for {
					m, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += m
					// Requests here carry no body: answer every complete head.
					for {
						i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
						if i < 0 {
							break
						}
						if _, err := c.Write(resp); err != nil {
							return
						}
						n = copy(buf[:], buf[i+4:n])
					}
					if n == len(buf) {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// deadlineWriter is a ResponseWriter that also takes write deadlines, as
// net/http's does, so the send timeout is armed as in production.
type deadlineWriter struct {
	discardWriter
	status int
}

func (w *deadlineWriter) WriteHeader(code int)             { w.status = code }
func (w *deadlineWriter) SetWriteDeadline(time.Time) error { return nil }

// proxyRequest is a small GET for example.com with typical client headers.
func proxyRequest(ctx context.Context) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/api/items?page=2", nil).WithContext(ctx)
	req.Host = "example.com"
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Encoding", "gzip")
	return req
}

// serveOnce runs one request through p and fails unless it got the
// backend's 200.
func serveOnce(tb testing.TB, p *Proxy, w *deadlineWriter, req *http.Request) {
	clear(w.h)
	w.status = 0
	delete(req.Header, requestIDHeader)
	p.ServeHTTP(w, req)
	if w.status != http.StatusOK || len(w.h["Content-Type"]) != 1 {
		tb.Fatalf("status %d, header %v", w.status, w.h)
	}
}

// TestProxyAllocsPerRequest keeps allocations on the request path from
// creeping back: the proxy's own share of a proxied GET on a pooled
// upstream connection must stay at or below maxProxyAllocs.
func TestProxyAllocsPerRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts; .ci/run runs this test without -race")
	}
	p := benchProxy(t, cannedBackend(t))
	w := &deadlineWriter{discardWriter: discardWriter{h: http.Header{}}}
	req := proxyRequest(context.Background())
	serveOnce(t, p, w, req) // dial the upstream connection
	got := testing.AllocsPerRun(2000, func() { serveOnce(t, p, w, req) })
	t.Logf("%.1f allocations per proxied request (limit %d)", got, maxProxyAllocs)
	if got > maxProxyAllocs {
		t.Errorf("the proxy made %.1f allocations per request, more than the %d allowed; see BenchmarkProxyOwn and bench/RESULTS.md", got, maxProxyAllocs)
	}
}

// BenchmarkProxyOwn is the proxy's own share of a request: ServeHTTP with
// default options against a backend that allocates nothing, one request at
// a time (GOMAXPROCS of them in parallel). Its allocs/op is what
// TestProxyAllocsPerRequest bounds.
func BenchmarkProxyOwn(b *testing.B) {
	p := benchProxy(b, cannedBackend(b))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &deadlineWriter{discardWriter: discardWriter{h: http.Header{}}}
		req := proxyRequest(context.Background())
		for pb.Next() {
			serveOnce(b, p, w, req)
		}
	})
}
