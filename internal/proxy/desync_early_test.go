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

// TestEarlyAnswerUnderConcurrentLoad is the early-answer desync with other
// users' requests arriving at the same time: a backend that answers a POST
// without reading its (small, buffered) body leaves that body to be parsed
// as the next request on the connection; the answer to it must never reach
// another client.
func TestEarlyAnswerUnderConcurrentLoad(t *testing.T) {
	be := newSlowSmuggleBackend(t)
	f := newFront(t, Options{ResponseHeaderTimeout: 5 * time.Second})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	s.Switch(newTargetAt(t, s, "v1", be.addr()))

	var wrong, done atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	client := &http.Client{Timeout: 10 * time.Second}
	wg.Add(1)
	go func() { // the attacker
		defer wg.Done()
		for i := 0; i < 400; i++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := client.Do(f.request(t, http.MethodPost, "example.com", "/early",
				strings.NewReader("GET /smuggle HTTP/1.1\r\nHost: x\r\n\r\n")))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	for v := range 4 {
		wg.Add(1)
		go func() { // users
			defer wg.Done()
			for i := 0; i < 400; i++ {
				path := fmt.Sprintf("/u%d-%d", v, i)
				resp, err := client.Do(f.request(t, http.MethodGet, "example.com", path, nil))
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				done.Add(1)
				if string(b) != "own "+path {
					if wrong.Add(1) <= 3 {
						t.Errorf("GET %s got %d %q: another request's response", path, resp.StatusCode, b)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if n := wrong.Load(); n > 0 {
		t.Errorf("%d of %d users' requests got another request's response", n, done.Load())
	}
}

// slowSmuggleBackend answers POST /early at once without reading the body,
// and takes a few milliseconds over every other request (a real app's
// work), so the answer to a request smuggled in that body arrives after
// the proxy has pooled the connection.
type slowSmuggleBackend struct{ ln net.Listener }

func newSlowSmuggleBackend(t *testing.T) *slowSmuggleBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
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
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if req.URL.Path == "/early" {
						io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nearly")
						continue // the body is parsed as the next request
					}
					io.Copy(io.Discard, req.Body)
					time.Sleep(2 * time.Millisecond) // the app's work
					if req.URL.Path == "/smuggle" {
						io.WriteString(c, smuggled)
						continue
					}
					body := "own " + req.URL.Path
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				}
			}()
		}
	}()
	return &slowSmuggleBackend{ln: ln}
}

func (b *slowSmuggleBackend) addr() string { return b.ln.Addr().String() }

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
