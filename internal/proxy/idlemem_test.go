package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
)

// BenchmarkIdleConnMemory measures what one idle keep-alive client
// connection costs the process: N connections each make one proxied GET
// through a server configured like the daemon's (ConfigureServer) and stay
// open. It reports Go heap and goroutine stack bytes per connection, after
// a GC and before one (a burst of connections leaves stacks grown by the
// request until the next GC shrinks them). Kernel socket buffers are not
// counted. b.N is ignored: one sample of 2,000 connections per run.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 2000
	p := benchProxy(b, cannedBackend(b))
	srv := httptest.NewUnstartedServer(p)
	p.ConfigureServer(srv.Config)
	srv.Start()
	defer srv.Close()
	for b.Loop() {
		runtime.GC()
		var before, held, gced runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		runtime.ReadMemStats(&held)
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&gced)
		per := func(a, z uint64) float64 { return (float64(a) - float64(z)) / n }
		b.ReportMetric(per(held.HeapInuse, before.HeapInuse), "heap-B/conn")
		b.ReportMetric(per(held.StackInuse, before.StackInuse), "stack-B/conn")
		b.ReportMetric(per(gced.HeapInuse, before.HeapInuse), "heap-after-gc-B/conn")
		b.ReportMetric(per(gced.StackInuse, before.StackInuse), "stack-after-gc-B/conn")
		for _, c := range conns {
			c.Close()
		}
	}
}
