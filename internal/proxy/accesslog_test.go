package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the proxy's writes and the test's
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSpace(s.b.String()), "\n")
}

// TestRequestIDAndAccessLog: a valid client request id passes through to
// the app and back; a missing or invalid one is replaced by a generated
// one; the access log has one JSON line per request with who served it.
func TestRequestIDAndAccessLog(t *testing.T) {
	var log syncBuffer
	f := newFront(t, Options{AccessLog: &log})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	s.Switch(target(t, s, "v1", backend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "app saw "+r.Header.Get("X-Request-Id"))
	})))

	for _, tc := range []struct{ name, sent string }{
		{"valid", "abc-123.DEF:x"},
		{"missing", ""},
		{"invalid", "bad id\twith spaces"},
		{"too long", strings.Repeat("a", 129)},
	} {
		req := f.request(t, http.MethodGet, "example.com", "/p", nil)
		if tc.sent != "" {
			req.Header.Set("X-Request-Id", tc.sent)
		}
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := resp.Header.Get("X-Request-Id")
		if string(b) != "app saw "+got {
			t.Errorf("%s: app saw %q, client got %q", tc.name, b, got)
		}
		switch {
		case tc.name == "valid" && got != tc.sent:
			t.Errorf("valid id %q replaced by %q", tc.sent, got)
		case tc.name != "valid" && (len(got) != 32 || got == tc.sent):
			t.Errorf("%s: id %q, want a generated 32-hex-digit id", tc.name, got)
		}
	}
	// A proxy-made answer carries an id too, and is logged without a version.
	if code, _ := f.get(t, "unknown.host", "/x"); code != 404 {
		t.Fatalf("unknown host: %d", code)
	}

	lines := log.lines()
	if len(lines) != 5 {
		t.Fatalf("%d access log lines, want 5:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var e accessEntry
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatalf("line %q: %v", lines[0], err)
	}
	if e.Host != "example.com" || e.Method != "GET" || e.Path != "/p" || e.Status != 200 || e.Bytes != int64(len("app saw abc-123.DEF:x")) ||
		e.Service != "web" || e.Version != "v1" || e.RequestID != "abc-123.DEF:x" || e.Time == "" || e.DurationMS <= 0 {
		t.Errorf("first line %+v", e)
	}
	var e404 accessEntry
	if err := json.Unmarshal([]byte(lines[4]), &e404); err != nil || e404.Status != 404 || e404.Version != "" || len(e404.RequestID) != 32 {
		t.Errorf("404 line %+v (%v)", e404, err)
	}
}
