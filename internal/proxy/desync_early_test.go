package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestEarlyAnswerUnderConcurrentLoad is the early-answer desync with other
// users' requests arriving at the same time: a backend that answers a POST
// without reading its (small, buffered) body leaves that body to be parsed
// as the next request on the connection, and answers it after a moment of
// work, when the proxy has already pooled the connection; that answer must
// never reach another client.
func TestEarlyAnswerUnderConcurrentLoad(t *testing.T) {
	addr := carelessBackend(t, func(c io.Writer, req *http.Request) bool {
		switch req.URL.Path {
		case "/early":
			io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nearly")
			return true // the body is parsed as the next request
		case "/smuggle":
			time.Sleep(2 * time.Millisecond) // the app's work
			io.WriteString(c, smuggled)
			return true
		}
		return false
	})
	othersGetTheirOwn(t, addr, func(f *front) *http.Request {
		return f.request(t, http.MethodPost, "example.com", "/early",
			strings.NewReader("GET /smuggle HTTP/1.1\r\nHost: x\r\n\r\n"))
	})
}

// BenchmarkServeHTTPPost is BenchmarkServeHTTP with a 1 KiB request body:
// since nothing proves a target read a body, the upstream connection of
// each such request is closed (a new one dialled for the next).
func BenchmarkServeHTTPPost(b *testing.B) {
	srv := benchBackend(b)
	p := benchProxy(b, srv.Listener.Addr().String())
	body := strings.Repeat("x", 1<<10)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			req.Host = "example.com"
			clear(w.h)
			p.ServeHTTP(w, req)
		}
	})
}
