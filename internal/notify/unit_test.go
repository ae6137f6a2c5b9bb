package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	n := &Notifier{opts: Options{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second}}
	for attempt, nominal := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 40: time.Second,
	} {
		for range 50 {
			d := n.backoff(attempt, &HTTPError{StatusCode: 503})
			if d < nominal/2 || d > nominal {
				t.Fatalf("attempt %d: backoff %s outside [%s, %s]", attempt, d, nominal/2, nominal)
			}
		}
	}
	if d := n.backoff(1, &HTTPError{StatusCode: 429, RetryAfter: 300 * time.Millisecond}); d != 300*time.Millisecond {
		t.Errorf("Retry-After 300ms: backoff %s", d)
	}
	if d := n.backoff(1, &HTTPError{StatusCode: 429, RetryAfter: time.Hour}); d != time.Second {
		t.Errorf("Retry-After 1h: backoff %s, want capped at 1s", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "0": 0, "-3": 0, "7": 7 * time.Second, "junk": 0,
		"99999999999":                   24 * time.Hour,
		"Tue, 01 Jan 2030 00:00:30 GMT": 30 * time.Second,
		"Mon, 31 Dec 2029 23:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestRetryable(t *testing.T) {
	for code, want := range map[int]bool{400: false, 401: false, 403: false, 404: false, 408: true, 422: false, 429: true, 500: true, 502: true, 503: true} {
		if got := retryable(&HTTPError{StatusCode: code}); got != want {
			t.Errorf("%d: retryable %v, want %v", code, got, want)
		}
	}
	if retryable(ErrPermanent) {
		t.Error("ErrPermanent retried")
	}
}

func TestMessages(t *testing.T) {
	for _, tc := range []struct {
		ev   Event
		want []string
	}{
		{Event{Kind: KindStarted, Service: "web", Version: "v2", PreviousVersion: "v1", Actor: "bob"},
			[]string{"Deploying web v2", "replacing v1", "by bob"}},
		{Event{Kind: KindSucceeded, Service: "web", Version: "v2", Duration: 12340 * time.Millisecond},
			[]string{"Deployed web v2", "in 12.3s"}},
		{Event{Kind: KindSucceeded, Service: "web", Version: "v2", ReleaseID: 7, RollbackURL: "https://deploy.example/ui/link/rollback?release=7"},
			[]string{"Deployed web v2", "[release 7]\nRoll back: https://deploy.example/ui/link/rollback?release=7"}},
		{Event{Kind: KindRolledBack, Service: "web", Version: "v1", PreviousVersion: "v2", Automatic: true, Reason: "5xx rate"},
			[]string{"Automatically rolled back web to v1", "from v2", ": 5xx rate"}},
		{Event{Kind: KindRolledBack, Service: "web", Version: "v1", Actor: "carol"},
			[]string{"↩️ Rolled back web to v1", "by carol"}},
	} {
		msg := tc.ev.Message()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s message %q lacks %q", tc.ev.Kind, msg, w)
			}
		}
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{"failed": KindFailed, "deploy.rolled_back": KindRolledBack, " Started ": KindStarted} {
		if got, err := ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseKind("exploded"); err == nil {
		t.Error("ParseKind accepted an unknown kind")
	}
}

func TestEventJSONOmitsNanoseconds(t *testing.T) {
	b, err := json.Marshal(Event{Kind: KindSucceeded, Service: "web", Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"duration_ms":2000`) || strings.Contains(string(b), "Duration") {
		t.Fatalf("json %s", b)
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("héllo wörld", 5); got != "héll…" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("short", 5); got != "short" {
		t.Errorf("truncate = %q", got)
	}
}
