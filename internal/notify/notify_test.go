package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

var sample = Event{
	Kind: KindFailed, Service: "web", Version: "v2", PreviousVersion: "v1", ReleaseID: 7,
	Actor: "alice", Reason: "health check failed <!channel> & @everyone", Duration: 1500 * time.Millisecond,
	At: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Details: map[string]string{"exit": "1"},
}

func TestPayloadShapes(t *testing.T) {
	slack := newReceiver(t, status(200))
	discord := newReceiver(t, status(204))
	hook := newReceiver(t, status(202))
	secret := []byte("notify-secret")
	n := New([]Sink{
		mustSink(NewSlack(slack.srv.URL+"/services/T/B/x", SinkOptions{})),
		mustSink(NewDiscord(discord.srv.URL+"/api/webhooks/1/x", SinkOptions{})),
		mustSink(NewWebhook(hook.srv.URL, secret, SinkOptions{Name: "ops"})),
	}, fastOptions())
	n.Notify(sample)
	closeOK(t, n)

	var s map[string]any
	decodeOne(t, slack, &s)
	text, _ := s["text"].(string)
	if len(s) != 1 || !strings.Contains(text, "web v2 failed") || !strings.Contains(text, "v1 still live") ||
		!strings.Contains(text, "&lt;!channel&gt; &amp;") || strings.Contains(text, "<!channel>") {
		t.Errorf("slack payload %v", s)
	}

	var d struct {
		Content         string              `json:"content"`
		AllowedMentions map[string][]string `json:"allowed_mentions"`
	}
	decodeOne(t, discord, &d)
	if !strings.Contains(d.Content, "web v2 failed") || !strings.Contains(d.Content, "alice") {
		t.Errorf("discord content %q", d.Content)
	}
	if parse, ok := d.AllowedMentions["parse"]; !ok || len(parse) != 0 {
		t.Errorf("discord allowed_mentions %v, want parse: []", d.AllowedMentions)
	}

	reqs := hook.requests()
	if len(reqs) != 1 {
		t.Fatalf("webhook got %d requests", len(reqs))
	}
	r := reqs[0]
	var ev map[string]any
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"kind": "deploy.failed", "service": "web", "version": "v2", "previous_version": "v1",
		"release_id": 7.0, "actor": "alice", "duration_ms": 1500.0, "at": "2030-01-02T03:04:05Z"}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("webhook %s = %v, want %v (%s)", k, ev[k], v, r.body)
		}
	}
	if det, _ := ev["details"].(map[string]any); det["exit"] != "1" {
		t.Errorf("details %v", ev["details"])
	}
	if r.header.Get(HeaderEvent) != "deploy.failed" || r.header.Get(HeaderDelivery) == "" {
		t.Errorf("headers %v", r.header)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(r.header.Get(HeaderTimestamp) + "."))
	m.Write(r.body)
	if got, want := r.header.Get(HeaderSignature), "sha256="+hex.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
}

func decodeOne(t *testing.T, rc *receiver, v any) {
	t.Helper()
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	if ct := reqs[0].header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if err := json.Unmarshal(reqs[0].body, v); err != nil {
		t.Fatalf("body %s: %v", reqs[0].body, err)
	}
}

func TestUnsignedWebhookHasNoSignature(t *testing.T) {
	rc := newReceiver(t, status(200))
	n := New([]Sink{mustSink(NewWebhook(rc.srv.URL, nil, SinkOptions{}))}, fastOptions())
	n.Notify(Event{Kind: KindStarted, Service: "web", Version: "v3"})
	closeOK(t, n)
	if h := rc.requests()[0].header; h.Get(HeaderSignature) != "" || h.Get(HeaderTimestamp) != "" {
		t.Fatalf("unsigned sink sent signature headers: %v", h)
	}
}

func TestRetriesUntilDelivered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(n int, w http.ResponseWriter, r *http.Request)
		calls  int
	}{
		{"500 twice then 200", func(n int, w http.ResponseWriter, _ *http.Request) {
			if n <= 2 {
				w.WriteHeader(500)
			}
		}, 3},
		{"429 with an hour's Retry-After is capped", func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				w.Header().Set("Retry-After", "3600")
				w.WriteHeader(429)
			}
		}, 2},
		{"attempt timeout then 200", func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				<-r.Context().Done() // hang until the client gives up
			}
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, tc.script)
			opts := fastOptions()
			opts.AttemptTimeout = 200 * time.Millisecond
			n := New([]Sink{mustSink(NewWebhook(rc.srv.URL, nil, SinkOptions{}))}, opts)
			n.Notify(Event{Kind: KindSucceeded, Service: "web", Version: "v2"})
			closeOK(t, n)
			reqs := rc.requests()
			if len(reqs) != tc.calls {
				t.Fatalf("%d requests, want %d", len(reqs), tc.calls)
			}
			for _, r := range reqs {
				if r.header.Get(HeaderDelivery) != reqs[0].header.Get(HeaderDelivery) {
					t.Fatal("delivery id changed between retries")
				}
			}
			if st := n.Stats(); st.Delivered != 1 || st.Failed != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestNoRetryOn4xx(t *testing.T) {
	for _, code := range []int{400, 401, 404, 410} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			rc := newReceiver(t, status(code))
			var attempts []Attempt
			var mu sync.Mutex
			opts := fastOptions()
			opts.OnAttempt = func(a Attempt) { mu.Lock(); attempts = append(attempts, a); mu.Unlock() }
			n := New([]Sink{mustSink(NewSlack(rc.srv.URL, SinkOptions{}))}, opts)
			n.Notify(Event{Kind: KindStarted, Service: "web"})
			closeOK(t, n)
			if got := len(rc.requests()); got != 1 {
				t.Fatalf("%d requests, want 1", got)
			}
			var he *HTTPError
			mu.Lock()
			defer mu.Unlock()
			if len(attempts) != 1 || !attempts[0].Final || !errors.As(attempts[0].Err, &he) || he.StatusCode != code {
				t.Fatalf("attempts %+v", attempts)
			}
			if st := n.Stats(); st.Failed != 1 || st.Delivered != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	rc := newReceiver(t, status(503))
	opts := fastOptions()
	opts.MaxAttempts = 3
	n := New([]Sink{mustSink(NewDiscord(rc.srv.URL, SinkOptions{}))}, opts)
	n.Notify(Event{Kind: KindStarted, Service: "web"})
	closeOK(t, n)
	if got := len(rc.requests()); got != 3 {
		t.Fatalf("%d requests, want 3", got)
	}
	if st := n.Stats(); st.Failed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReceiverDown(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	firstFailure := make(chan Attempt, 1)
	opts := fastOptions()
	opts.BackoffBase, opts.BackoffMax = time.Hour, time.Hour // park the worker in backoff
	opts.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	opts.OnAttempt = func(a Attempt) {
		select {
		case firstFailure <- a:
		default:
		}
	}
	url := closedURL(t) + "/services/T0/B0/SECRETPATH"
	n := New([]Sink{mustSink(NewSlack(url, SinkOptions{}))}, opts)
	returnsPromptly(t, "Notify", func() {
		for range 3 {
			n.Notify(Event{Kind: KindFailed, Service: "web"})
		}
	})
	a := <-firstFailure
	if a.Err == nil || a.Final || strings.Contains(a.Err.Error(), "SECRETPATH") {
		t.Fatalf("first attempt %+v: want a retryable error without the URL's secret", a)
	}

	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- n.Close(ctx) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v while an event was pending and ctx alive", err)
	default:
	}
	cancel()
	var err error
	returnsPromptly(t, "Close after its context ended", func() { err = <-closed })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Close: %v, want context.Canceled", err)
	}
	if st := n.Stats(); st.Failed != 3 || st.Delivered != 0 {
		t.Fatalf("stats %+v, want the 3 events failed", st)
	}
	n.Notify(Event{Kind: KindFailed, Service: "web"}) // after Close: no panic
	if st := n.Stats(); st.Dropped != 1 {
		t.Fatalf("stats %+v, want the late event dropped", st)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), "SECRETPATH") {
		t.Fatalf("log leaks the webhook URL: %s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestSlowReceiverDoesNotBlockNotify(t *testing.T) {
	release := make(chan struct{})
	slow := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-release
		}
	})
	fast := newReceiver(t, status(200))
	opts := fastOptions()
	opts.QueueSize = 3
	n := New([]Sink{
		mustSink(NewWebhook(slow.srv.URL, nil, SinkOptions{Name: "slow", Kinds: []Kind{KindStarted}})),
		mustSink(NewWebhook(fast.srv.URL, nil, SinkOptions{Name: "fast", Kinds: []Kind{KindRolledBack}})),
	}, opts)
	t.Cleanup(func() { closeOK(t, n) })
	defer close(release) // before closeOK: let the slow receiver answer

	n.Notify(Event{Kind: KindStarted, Service: "web", Version: "v0"})
	first := slow.next(t) // the worker is now stuck in this request
	returnsPromptly(t, "Notify while the receiver hangs", func() {
		for i := 1; i <= 10; i++ {
			n.Notify(Event{Kind: KindStarted, Service: "web", Version: fmt.Sprintf("v%d", i)})
		}
	})
	if st := n.Stats(); st.Dropped != 7 {
		t.Fatalf("stats %+v, want 7 dropped (queue of 3)", st)
	}
	// Another sink is not held up by the slow one.
	n.Notify(Event{Kind: KindRolledBack, Service: "web", Version: "v0"})
	if r := fast.next(t); !bytes.Contains(r.body, []byte(`"deploy.rolled_back"`)) {
		t.Fatalf("fast sink got %s", r.body)
	}

	release <- struct{}{}
	versions := []string{version(t, first)}
	for range 3 {
		versions = append(versions, version(t, slow.next(t)))
	}
	if got := strings.Join(versions, ","); got != "v0,v8,v9,v10" {
		t.Fatalf("delivered %s, want v0 then the newest three", got)
	}
}

func version(t *testing.T, r received) string {
	t.Helper()
	var ev Event
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Version
}

func TestKindFilter(t *testing.T) {
	rc := newReceiver(t, status(200))
	n := New([]Sink{mustSink(NewWebhook(rc.srv.URL, nil, SinkOptions{Kinds: []Kind{KindFailed, KindRolledBack}}))}, fastOptions())
	for _, k := range Kinds {
		n.Notify(Event{Kind: k, Service: "web"})
	}
	closeOK(t, n)
	var got []string
	for _, r := range rc.requests() {
		got = append(got, r.header.Get(HeaderEvent))
	}
	if strings.Join(got, ",") != "deploy.failed,deploy.rolled_back" {
		t.Fatalf("sink got %v", got)
	}
}

func TestNotifyCopiesDetails(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { <-release })
	n := New([]Sink{mustSink(NewWebhook(rc.srv.URL, nil, SinkOptions{}))}, fastOptions())
	details := map[string]string{"k": "before"}
	n.Notify(Event{Kind: KindStarted, Service: "a"})
	rc.next(t)
	n.Notify(Event{Kind: KindStarted, Service: "b", Details: details})
	details["k"] = "after" // the caller reuses its map: no race, no effect
	close(release)
	closeOK(t, n)
	if body := rc.requests()[1].body; !bytes.Contains(body, []byte(`"k":"before"`)) {
		t.Fatalf("body %s", body)
	}
}

func TestSinkValidation(t *testing.T) {
	for _, u := range []string{"", "ftp://x/y", "hooks.slack.com/services/x", "http://"} {
		if _, err := NewSlack(u, SinkOptions{}); err == nil {
			t.Errorf("NewSlack(%q) accepted", u)
		}
	}
	if _, err := NewWebhook("http://127.0.0.1:1/", nil, SinkOptions{Kinds: []Kind{"deploy.exploded"}}); err == nil {
		t.Error("unknown kind accepted")
	}
	_, err := NewDiscord("gopher://secret-token@x", SinkOptions{})
	if err == nil || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("bad URL error %v must not echo the URL", err)
	}
}
