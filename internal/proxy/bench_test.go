package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// benchBackend answers a small body, like a typical JSON API or health page.
func benchBackend(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello from the backend\n")
	}))
	b.Cleanup(srv.Close)
	return srv
}

// runClients drives handler h over real loopback sockets from parallel
// keep-alive clients.
func runClients(b *testing.B, h http.Handler) {
	front := httptest.NewServer(h)
	defer front.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	defer tr.CloseIdleConnections()
	getParallel(b, &http.Client{Transport: tr}, front.URL, 1)
}

// getParallel times GET / for example.com from 4×GOMAXPROCS goroutines
// sharing client, each response checked for 200 over HTTP/major.
func getParallel(b *testing.B, client *http.Client, url string, major int) {
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
		req.Host = "example.com"
		for pb.Next() {
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != major {
				b.Errorf("%s %d", resp.Proto, resp.StatusCode)
				return
			}
		}
	})
}

func benchProxy(b testing.TB, backendAddr string) *Proxy {
	p := New(Options{})
	s, err := p.SetService("web", []string{"example.com"}, "", ServiceOptions{})
	if err != nil {
		b.Fatal(err)
	}
	t, err := s.NewTarget("v1", backendAddr)
	if err != nil {
		b.Fatal(err)
	}
	s.Switch(t)
	return p
}

// BenchmarkProxy is the end-to-end path: client → proxy → backend over
// loopback, parallel, small response. Client and backend costs are
// included; compare with BenchmarkReverseProxyBaseline.
func BenchmarkProxy(b *testing.B) {
	srv := benchBackend(b)
	runClients(b, benchProxy(b, srv.Listener.Addr().String()))
}

// BenchmarkReverseProxyBaseline is net/http/httputil.ReverseProxy with a
// tuned Transport in the same setup, as a yardstick.
func BenchmarkReverseProxyBaseline(b *testing.B) {
	srv := benchBackend(b)
	u, _ := url.Parse(srv.URL)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true}
	runClients(b, rp)
}

// discardWriter is a minimal ResponseWriter so BenchmarkServeHTTP measures
// the proxy's own work and allocations.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkServeHTTP calls the handler directly (no client, no front
// server) against a real loopback backend: the proxy's share of a request.
func BenchmarkServeHTTP(b *testing.B) {
	srv := benchBackend(b)
	p := benchProxy(b, srv.Listener.Addr().String())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		req.Host = "example.com"
		req.Header.Set("User-Agent", "bench")
		req.Header.Set("Accept", "*/*")
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			p.ServeHTTP(w, req)
		}
	})
}

// BenchmarkProxyLargeBody streams a 1 MiB response: copy throughput.
func BenchmarkProxyLargeBody(b *testing.B) {
	body := strings.Repeat("x", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	}))
	defer srv.Close()
	p := benchProxy(b, srv.Listener.Addr().String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		req.Host = "example.com"
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			p.ServeHTTP(w, req)
		}
	})
}

// BenchmarkRouteLookup resolves hosts in a table of 200 routes, with ports
// and mixed case, as the request path does.
func BenchmarkRouteLookup(b *testing.B) {
	p := New(Options{})
	for i := range 100 {
		name := fmt.Sprintf("svc%d", i)
		if _, err := p.SetService(name, []string{name + ".example.com"}, "", ServiceOptions{}); err != nil {
			b.Fatal(err)
		}
		if _, err := p.SetService(name+"-api", []string{name + ".example.com"}, "/api", ServiceOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	hosts := []string{"svc7.example.com", "svc42.example.com:8080", "SVC99.Example.com", "nope.example.com"}
	paths := []string{"/", "/api/users", "/apix", "/static/app.js"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p.table.Load().lookup(hosts[i&3], paths[(i>>2)&3])
	}
}

// BenchmarkProxyTLS is BenchmarkProxy with the client on TLS, HTTP/1.1 or
// HTTP/2 (one request at a time per client goroutine, multiplexed on the
// shared connections for h2), to see what each protocol adds in front of
// the same upstream path.
func BenchmarkProxyTLS(b *testing.B) {
	for _, h2 := range []bool{false, true} {
		name := map[bool]string{false: "h1", true: "h2"}[h2]
		b.Run(name, func(b *testing.B) {
			srv := benchBackend(b)
			front := httptest.NewUnstartedServer(benchProxy(b, srv.Listener.Addr().String()))
			front.EnableHTTP2 = h2
			front.StartTLS()
			defer front.Close()
			tr := front.Client().Transport.(*http.Transport).Clone()
			tr.MaxIdleConnsPerHost, tr.DisableCompression, tr.ForceAttemptHTTP2 = 256, true, h2
			defer tr.CloseIdleConnections()
			getParallel(b, &http.Client{Transport: tr}, front.URL, map[bool]int{false: 1, true: 2}[h2])
		})
	}
}
