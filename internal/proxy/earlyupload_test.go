package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEarlyAnswerToStreamedUploadOverHTTP2: a target that answers a large
// upload before reading it (a 413, a 401) ends the handler while the
// goroutine streaming the client's body upstream is still reading it. That
// goroutine must not touch the response writer afterwards: net/http's
// HTTP/2 writer is gone once the handler returned, and setting a read
// deadline on it then panicked outside any handler, ending the daemon.
func TestEarlyAnswerToStreamedUploadOverHTTP2(t *testing.T) {
	frontHTTP2 = true
	defer func() { frontHTTP2 = false }()
	be := newRawBackend(t, map[string]rawReply{
		"/upload": {bytes: "HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\n\r\ntoo big\n"},
	})
	go func() {
		for range be.wrote {
		}
	}()
	f := newFront(t, Options{RequestBufferSize: 1 << 10, ClientBodyTimeout: 5 * time.Second})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	s.Switch(newTargetAt(t, s, "v1", be.addr()))

	for range 10 {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(strings.Repeat("x", 8<<10))) // past the buffer: streamed
		}()
		req := f.request(t, http.MethodPost, "example.com", "/upload", pr)
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The target closes on the unread body it cannot parse, which may
		// reset the connection before its answer is read: 413 or 502.
		if (resp.StatusCode != 413 || string(b) != "too big\n") && resp.StatusCode != 502 {
			t.Fatalf("got %d %q, want the target's 413 (or 502)", resp.StatusCode, b)
		}
		go func() { // the client goes on sending, if its transport lets it
			pw.Write([]byte("more"))
			pw.Close()
		}()
	}
	// Each streaming goroutine ends soon after its handler; a panic in one
	// ends this test binary, and the race detector sees a late call.
	if code, body := f.get(t, "example.com", "/after"); code != 200 || body != "own /after" {
		t.Fatalf("after the uploads: %d %q", code, body)
	}
}
