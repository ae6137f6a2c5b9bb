package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAcquireDrainRace hammers the acquire/Drain protocol directly: no
// acquire may succeed once Drain has returned.
func TestAcquireDrainRace(t *testing.T) {
	p := New(Options{})
	s, _ := p.SetService("web", []string{"*"}, "", ServiceOptions{})
	for round := 0; round < 20; round++ {
		tg, err := s.NewTarget("v", "127.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		var drained atomic.Bool
		var bad, after atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					late := drained.Load()
					if tg.acquire() {
						if late {
							bad.Add(1)
						}
						tg.release()
					}
					if late {
						after.Add(1)
					}
				}
			}()
		}
		if err := tg.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		drained.Store(true)
		waitFor(t, "attempts after the drain", func() bool { return after.Load() >= 200 })
		close(stop)
		wg.Wait()
		if n := bad.Load(); n > 0 {
			t.Fatalf("round %d: %d requests acquired the target after Drain returned", round, n)
		}
		if n := tg.InFlight(); n != 0 {
			t.Fatalf("round %d: in flight %d after drain", round, n)
		}
	}
}

// TestDrainWaitsForSlowRequest: a 1 s request that started on v1 finishes
// on v1 after the switch, and Drain returns only after it did.
func TestDrainWaitsForSlowRequest(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{VersionHeader: true})
	entered, finished := make(chan struct{}), make(chan struct{})
	v1 := target(t, s, "v1", backend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-time.After(time.Second) // the slow request itself, not synchronisation
		io.WriteString(w, "v1 slow\n")
		close(finished)
	}))
	s.Switch(v1)

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := f.client.Do(f.request(t, http.MethodGet, "example.com", "/slow", nil))
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), err}
	}()
	<-entered

	v2 := target(t, s, "v2", backend(t, "v2", nil))
	if prev := s.Switch(v2); prev != v1 {
		t.Fatalf("Switch returned %v, want v1", prev)
	}
	if code, body := f.get(t, "example.com", "/"); code != 200 || body != "v2\n" {
		t.Fatalf("request after switch = %d %q, want v2", code, body)
	}
	if n := v1.InFlight(); n != 1 {
		t.Fatalf("v1 in flight = %d, want 1", n)
	}
	start := time.Now()
	if err := v1.Drain(context.Background()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	select {
	case <-finished:
	default:
		t.Fatal("Drain returned before the slow request finished")
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("Drain returned after %v; the slow request had most of 1s left", waited)
	}
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "v1 slow\n" {
		t.Fatalf("slow request = %d %q %v, want 200 from v1", r.code, r.body, r.err)
	}
}

// sseBackend streams n events, one per tick of every, and reports when it
// has written the last one.
func sseBackend(n int, every time.Duration, done chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			if i < n-1 {
				<-tick.C
			}
		}
		close(done)
	}
}

// TestDrainWaitsForSSE: an event stream flows through unbuffered, survives
// the switch and holds Drain until it ends.
func TestDrainWaitsForSSE(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	streamDone := make(chan struct{})
	v1 := target(t, s, "v1", backend(t, "v1", sseBackend(6, 100*time.Millisecond, streamDone)))
	s.Switch(v1)

	resp, err := f.client.Do(f.request(t, http.MethodGet, "example.com", "/events", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	// The first event must arrive while the stream is still open: proof
	// that the proxy flushes instead of buffering.
	if line, err := br.ReadString('\n'); err != nil || line != "data: 0\n" {
		t.Fatalf("first event = %q, %v", line, err)
	}
	select {
	case <-streamDone:
		t.Fatal("first event arrived only after the stream ended: not flushed")
	default:
	}

	s.Switch(target(t, s, "v2", backend(t, "v2", nil)))
	drained := make(chan error, 1)
	go func() { drained <- v1.Drain(context.Background()) }()

	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("stream broke: %v", err)
	}
	if got := strings.Count(string(rest), "data: "); got != 5 {
		t.Fatalf("got %d more events, want 5: %q", got, rest)
	}
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if n := v1.InFlight(); n != 0 {
		t.Fatalf("in flight after drain = %d", n)
	}
}

// TestDrainTimeoutEndsStuckStream: a stream that never ends is ended when
// the drain context expires, and Drain reports the deadline. Between two
// events the end is clean (the client reconnects at once, to the new live
// version); in the middle of an event it is a cut, so the client never
// takes half an event for a whole one.
func TestDrainTimeoutEndsStuckStream(t *testing.T) {
	for _, tc := range []struct {
		name, sent string
		clean      bool
	}{
		{"between events", "data: hello\n\n", true},
		{"mid-event", "data: hello\n\ndata: half", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFront(t, Options{})
			s := f.service(t, "web", "example.com", "", ServiceOptions{})
			release := make(chan struct{})
			defer close(release)
			v1 := target(t, s, "v1", backend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, tc.sent)
				w.(http.Flusher).Flush()
				select { // stuck until the test ends or the proxy hangs up
				case <-release:
				case <-r.Context().Done():
				}
			}))
			s.Switch(v1)

			resp, err := f.client.Do(f.request(t, http.MethodGet, "example.com", "/events", nil))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			if line, _ := br.ReadString('\n'); line != "data: hello\n" {
				t.Fatalf("first event = %q", line)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err = v1.Drain(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Drain = %v, want deadline exceeded", err)
			}
			if waited := time.Since(start); waited > goodbyeGrace+killGrace {
				t.Errorf("Drain took %v after its deadline", waited)
			}
			if n := v1.InFlight(); n != 0 {
				t.Errorf("in flight after forced drain = %d, want 0", n)
			}
			rest, err := io.ReadAll(br)
			if tc.clean && (err != nil || string(rest) != "\n") {
				t.Errorf("stream between events ended with %q, %v; want a clean end", rest, err)
			}
			if !tc.clean && err == nil {
				t.Errorf("stream cut mid-event ended cleanly after %q; want an error", rest)
			}
		})
	}
}

// TestSwitchUnderLoad is the product's promise: clients hammer the proxy
// while versions are switched, drained and their backends shut down in a
// loop, and not one request fails.
func TestSwitchUnderLoad(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	// Every third request is a POST with a body, every fourth takes 20ms,
	// so switches always find requests in flight.
	app := func(version string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if r.URL.Path == "/slow" {
				<-time.After(20 * time.Millisecond)
			}
			io.WriteString(w, version+"\n")
		}
	}
	cur := backend(t, "v0", app("v0"))
	s.Switch(target(t, s, "v0", cur))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				var req *http.Request
				switch {
				case (i+n)%3 == 0:
					req = f.request(t, http.MethodPost, "example.com", "/submit", strings.NewReader("payload"))
				case (i+n)%4 == 0:
					req = f.request(t, http.MethodGet, "example.com", "/slow", nil)
				default:
					req = f.request(t, http.MethodGet, "example.com", "/", nil)
				}
				resp, err := f.client.Do(req)
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != 200 || !strings.HasPrefix(string(b), "v")) {
						err = fmt.Errorf("status %d body %q", resp.StatusCode, b)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}()
	}

	const rounds = 40
	for i := 1; i <= rounds; i++ {
		before := ok.Load()
		waitFor(t, "traffic between switches", func() bool { return ok.Load() >= before+40 || failed.Load() > 0 })
		srv := backend(t, fmt.Sprintf("v%d", i), app(fmt.Sprintf("v%d", i)))
		prev := s.Switch(target(t, s, fmt.Sprintf("v%d", i), srv))
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := prev.Drain(dctx); err != nil {
			t.Errorf("drain %s: %v", prev.Version(), err)
		}
		cancel()
		// Kill the drained version abruptly, as a real app that does not
		// drain on SIGTERM would die: any request still on it would fail.
		cur.CloseClientConnections()
		cur.Close()
		cur = srv
	}
	stop()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed during %d switches; first: %v", n, n+ok.Load(), rounds, firstErr.Load())
	}
	t.Logf("%d requests, %d switches, 0 failures", ok.Load(), rounds)
}

// TestClientGoneReleasesStream: when the client of an idle stream goes
// away, the proxy hangs up on the target too, so the stream stops holding
// the version in flight (and a later Drain has nothing to wait for).
func TestClientGoneReleasesStream(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	targetSawClose, testDone := make(chan struct{}), make(chan struct{})
	v1 := target(t, s, "v1", backend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: hi\n\n")
		w.(http.Flusher).Flush()
		select { // idle until the proxy hangs up
		case <-r.Context().Done():
			close(targetSawClose)
		case <-testDone:
		}
	}))
	t.Cleanup(func() { close(testDone) }) // runs before the servers close
	s.Switch(v1)

	ctx, cancel := context.WithCancel(context.Background())
	resp, err := f.client.Do(f.request(t, http.MethodGet, "example.com", "/events", nil).WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(resp.Body).ReadString('\n'); line != "data: hi\n" {
		t.Fatalf("first event = %q", line)
	}
	if n := v1.InFlight(); n != 1 {
		t.Fatalf("in flight = %d, want 1", n)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-targetSawClose:
	case <-time.After(10 * time.Second):
		t.Fatal("the target's stream was not closed after its client left")
	}
	waitFor(t, "the stream to release the target", func() bool { return v1.InFlight() == 0 })
}

// TestResponseHeaderTimeout: a target that never answers gets 504 after
// Options.ResponseHeaderTimeout, counted as a transport error.
func TestResponseHeaderTimeout(t *testing.T) {
	f := newFront(t, Options{ResponseHeaderTimeout: 200 * time.Millisecond})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	release := make(chan struct{})
	defer close(release)
	v1 := target(t, s, "v1", backend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fast" {
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	s.Switch(v1)
	// A first exchange leaves a pooled connection with its deadline armed;
	// the timeout must hold on it just the same.
	if code, _ := f.get(t, "example.com", "/fast"); code != 200 {
		t.Fatalf("fast request = %d", code)
	}
	start := time.Now()
	code, body := f.get(t, "example.com", "/hang")
	if waited := time.Since(start); waited < 150*time.Millisecond || waited > 2*time.Second {
		t.Errorf("504 after %v, want about 200ms", waited)
	}
	if code != http.StatusGatewayTimeout || !strings.Contains(body, "did not answer in time") {
		t.Fatalf("= %d %q, want 504", code, body)
	}
	if st := v1.Stats(); st.TransportErrors != 1 || st.ServerErrors() != 1 || st.Codes[1] != 1 {
		t.Errorf("stats = %+v", st)
	}
}
