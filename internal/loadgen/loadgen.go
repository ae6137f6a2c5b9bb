// Package loadgen drives concurrent HTTP load through hotswap's proxy and
// counts every failure, so "zero downtime" is a number, not a claim. The
// demo prints its summary; the end-to-end tests assert on it. Every run is
// bounded by a context and by a request budget and stops by itself.
package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options shapes a load run.
type Options struct {
	URL     string // base URL of the proxy, e.g. http://127.0.0.1:8080
	Host    string // Host header (the service's host)
	Workers int    // concurrent fast-request workers
	// SlowWorkers send /slow?ms=SlowMS requests (requests in flight at the
	// moment of a switch or a drain).
	SlowWorkers int
	SlowMS      int
	// Streams keep one long-lived server-sent-events connection each open,
	// reconnecting when the server ends it.
	Streams int
	// MaxRequests stops the run after this many requests (0: 10 million).
	MaxRequests int64
	// WebSockets keep one WebSocket each open at a time (the sample app's
	// /ws), exchanging a few messages per connection, then reconnecting.
	WebSockets int
	// Check, if set, is asked about every response's version at the moment
	// it arrived; a false answer counts as a wrong-version response.
	Check func(version string, sent, received time.Time) bool
	// Cut, if set, is told about every stream the server ended before its
	// last event: the version that served it, when it was sent and when it
	// was cut. A stream outliving its version's drain timeout is cut by
	// design, which only the caller's timeline can tell: true counts the
	// cut in Result.Cuts for the caller to judge, false (or no Cut) counts
	// it as a failure.
	Cut func(version string, sent, cut time.Time) bool
	// TLS, when set, is the client configuration for an https:// URL (its
	// ServerName is the service's host).
	TLS *tls.Config
	// HTTP2 lets requests use HTTP/2 when the server offers it (TLS only).
	// WebSockets always use HTTP/1.1.
	HTTP2 bool
}

// Result is what a run saw.
type Result struct {
	Requests     int64            // responses received (all kinds)
	Failed       int64            // transport errors and non-2xx responses
	WrongVersion int64            // responses from a version that should not have served
	Versions     map[string]int64 // responses per X-Version
	// FailedByVersion counts non-2xx responses per X-Version ("" when the
	// response named none, e.g. from the proxy itself).
	FailedByVersion map[string]int64
	StreamEvents    int64            // SSE events received over long-lived connections
	Cuts            int64            // streams cut early that Options.Cut took over
	WebSocketMsgs   int64            // WebSocket messages echoed
	Protos          map[string]int64 // responses per protocol ("HTTP/1.1", "HTTP/2.0")
	Failures        []string         // the first few failures, for the report
	Duration        time.Duration
}

func (r Result) String() string {
	vs := make([]string, 0, len(r.Versions))
	for v, n := range r.Versions {
		vs = append(vs, fmt.Sprintf("%s=%d", v, n))
	}
	sort.Strings(vs)
	return fmt.Sprintf("%d requests, %d failed, %d wrong-version, %d stream events, %d websocket messages in %s; versions seen: %s",
		r.Requests, r.Failed, r.WrongVersion, r.StreamEvents, r.WebSocketMsgs, r.Duration.Round(time.Millisecond), strings.Join(vs, " "))
}

// Run sends load until ctx ends or the request budget is spent.
func Run(ctx context.Context, o Options) Result {
	if o.MaxRequests <= 0 {
		o.MaxRequests = 10_000_000
	}
	if o.SlowMS <= 0 {
		o.SlowMS = 1500
	}
	tr := &http.Transport{MaxIdleConnsPerHost: o.Workers + o.SlowWorkers + o.Streams + 4,
		DialContext:     (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig: o.TLS.Clone(), ForceAttemptHTTP2: o.HTTP2} // HTTP/2 setup edits its NextProtos
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	c := &counter{versions: map[string]int64{}, failedBy: map[string]int64{}, protos: map[string]int64{}}
	start := time.Now()
	var wg sync.WaitGroup
	spawn := func(n int, fn func()) {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); fn() }()
		}
	}
	budget := func() bool { return ctx.Err() == nil && c.sent.Add(1) <= o.MaxRequests }
	spawn(o.Workers, func() {
		for budget() {
			c.one(ctx, hc, o, "/")
		}
	})
	spawn(o.SlowWorkers, func() {
		for budget() {
			c.one(ctx, hc, o, fmt.Sprintf("/slow?ms=%d", o.SlowMS))
		}
	})
	spawn(o.Streams, func() {
		for budget() {
			c.stream(ctx, hc, o)
		}
	})
	spawn(o.WebSockets, func() {
		for budget() {
			c.websocket(ctx, o)
		}
	})
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return Result{Requests: c.requests.Load(), Failed: c.failed.Load(), WrongVersion: c.wrong.Load(),
		Versions: c.versions, FailedByVersion: c.failedBy, StreamEvents: c.events.Load(), Cuts: c.cuts.Load(), WebSocketMsgs: c.wsMsgs.Load(), Protos: c.protos,
		Failures: c.failures, Duration: time.Since(start)}
}

// counter accumulates results; atomics for the hot counters, mu for the rest.
type counter struct {
	sent, requests, failed, wrong, events, cuts, wsMsgs atomic.Int64

	mu       sync.Mutex // guards versions, failedBy, protos, failures
	versions map[string]int64
	protos   map[string]int64
	failedBy map[string]int64
	failures []string
}

func (c *counter) fail(format string, a ...any) {
	c.failed.Add(1)
	c.mu.Lock()
	if len(c.failures) < 20 {
		c.failures = append(c.failures, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, a...))
	}
	c.mu.Unlock()
}

func (c *counter) saw(o Options, version string, sent time.Time) {
	c.mu.Lock()
	c.versions[version]++
	c.mu.Unlock()
	if o.Check != nil && !o.Check(version, sent, time.Now()) {
		c.wrong.Add(1)
		c.fail("response from %s, which was neither live nor draining", version)
	}
}

// send GETs path with the service's Host header. A transport error is
// counted as a failure unless the run itself is ending; resp is nil then.
func (c *counter) send(ctx context.Context, hc *http.Client, o Options, path string) (*http.Response, time.Time) {
	sent := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.URL+path, nil)
	if err != nil {
		c.fail("build request: %v", err)
		return nil, sent
	}
	req.Host = o.Host
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.requests.Add(1)
			c.fail("GET %s: %v", path, err)
		}
		return nil, sent
	}
	c.mu.Lock()
	c.protos[resp.Proto]++
	c.mu.Unlock()
	return resp, sent
}

func (c *counter) one(ctx context.Context, hc *http.Client, o Options, path string) {
	resp, sent := c.send(ctx, hc, o, path)
	if resp == nil {
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ctx.Err() != nil && err != nil {
		return // the run ended mid-body: not a failure of the system under test
	}
	c.requests.Add(1)
	switch {
	case err != nil:
		c.fail("GET %s: read body: %v", path, err)
	case resp.StatusCode/100 != 2:
		c.mu.Lock()
		c.failedBy[resp.Header.Get("X-Version")]++
		c.mu.Unlock()
		c.fail("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	default:
		c.saw(o, resp.Header.Get("X-Version"), sent)
	}
}

// stream holds one SSE connection open until the server ends it, counting
// events; a connection cut before the server's last event is a failure.
func (c *counter) stream(ctx context.Context, hc *http.Client, o Options) {
	const n = 100
	resp, sent := c.send(ctx, hc, o, fmt.Sprintf("/stream?n=%d&ms=50", n))
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	c.requests.Add(1)
	if resp.StatusCode != http.StatusOK {
		c.fail("stream: %s", resp.Status)
		return
	}
	got := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			got++
			c.events.Add(1)
		}
	}
	if ctx.Err() != nil {
		return
	}
	if got != n {
		if o.Cut != nil && o.Cut(resp.Header.Get("X-Version"), sent, time.Now()) {
			c.cuts.Add(1)
			return
		}
		c.fail("stream from %s cut after %d of %d events: %v", resp.Header.Get("X-Version"), got, n, sc.Err())
		return
	}
	c.saw(o, resp.Header.Get("X-Version"), sent)
}

// Background is a load run in its own goroutine, owned by whoever started
// it; Stop ends it and waits for its result.
type Background struct {
	cancel context.CancelFunc
	done   chan Result
	once   sync.Once
	res    Result
}

// Start runs Run in the background until ctx ends or Stop is called.
func Start(ctx context.Context, o Options) *Background {
	ctx, cancel := context.WithCancel(ctx)
	b := &Background{cancel: cancel, done: make(chan Result, 1)}
	go func() { b.done <- Run(ctx, o) }()
	return b
}

// Stop ends the run and returns what it saw; later calls return the same.
func (b *Background) Stop() Result {
	b.once.Do(func() {
		b.cancel()
		b.res = <-b.done
	})
	return b.res
}
