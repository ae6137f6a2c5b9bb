package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestBodies covers what travels besides a small GET: large and chunked
// request bodies, a target that answers before reading the body, response
// trailers, HEAD and 204.
func TestBodies(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	s.Switch(target(t, s, "v1", backend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hash":
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			w.Header().Set("X-Length", r.Header.Get("Content-Length"))
			w.Header().Set("X-Chunked", strings.Join(r.TransferEncoding, ","))
			io.WriteString(w, hex.EncodeToString(h.Sum(nil))+" "+itoa(n)+" "+r.Trailer.Get("X-Sum"))
		case "/reject":
			http.Error(w, "too large", http.StatusRequestEntityTooLarge) // body never read
		case "/trailer":
			w.Header().Set("Trailer", "X-Checksum")
			io.WriteString(w, "body")
			w.(http.Flusher).Flush()
			w.Header().Set("X-Checksum", "abc")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	})))

	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	sum := sha256.Sum256(big)
	want := hex.EncodeToString(sum[:]) + " " + itoa(int64(len(big)))

	// Known length.
	resp := do(t, f, f.request(t, http.MethodPost, "example.com", "/hash", bytes.NewReader(big)))
	if resp.body != want+" " || resp.h.Get("X-Length") != itoa(int64(len(big))) {
		t.Errorf("sized upload: %q (length header %q), want %q", resp.body, resp.h.Get("X-Length"), want)
	}
	// Unknown length: chunked on both legs, with a request trailer.
	req := f.request(t, http.MethodPut, "example.com", "/hash", io.MultiReader(bytes.NewReader(big)))
	req.Trailer = http.Header{"X-Sum": {"t1"}}
	resp = do(t, f, req)
	if resp.body != want+" t1" || resp.h.Get("X-Chunked") != "chunked" {
		t.Errorf("chunked upload: %q (TE %q), want %q", resp.body, resp.h.Get("X-Chunked"), want+" t1")
	}
	// The target refuses without reading; the client still gets its answer.
	resp = do(t, f, f.request(t, http.MethodPost, "example.com", "/reject", bytes.NewReader(big)))
	if resp.code != http.StatusRequestEntityTooLarge {
		t.Errorf("early answer = %d, want 413", resp.code)
	}
	resp = do(t, f, f.request(t, http.MethodPost, "example.com", "/reject", strings.NewReader("small")))
	if resp.code != http.StatusRequestEntityTooLarge {
		t.Errorf("early answer to a small body = %d, want 413", resp.code)
	}
	resp = do(t, f, f.request(t, http.MethodGet, "example.com", "/trailer", nil))
	if resp.body != "body" || resp.trailer.Get("X-Checksum") != "abc" {
		t.Errorf("trailer: body %q trailer %v", resp.body, resp.trailer)
	}
	resp = do(t, f, f.request(t, http.MethodHead, "example.com", "/", nil))
	if resp.code != 200 || resp.body != "" || resp.h.Get("Content-Length") != "5" {
		t.Errorf("HEAD = %d %q length %q", resp.code, resp.body, resp.h.Get("Content-Length"))
	}
	resp = do(t, f, f.request(t, http.MethodGet, "example.com", "/empty", nil))
	if resp.code != http.StatusNoContent || resp.body != "" {
		t.Errorf("204 = %d %q", resp.code, resp.body)
	}
	// After all that the connection pool still serves plain requests.
	if code, body := f.get(t, "example.com", "/"); code != 200 || body != "hello" {
		t.Errorf("plain GET = %d %q", code, body)
	}
}

type result struct {
	code       int
	body       string
	h, trailer http.Header
}

func do(t *testing.T, f *front, req *http.Request) result {
	t.Helper()
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", req.Method, req.URL.Path, err)
	}
	return result{resp.StatusCode, string(b), resp.Header, resp.Trailer}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestClientBodyAbort: a client that hangs up halfway through its upload
// is not counted against the target but as a client error. A small body
// is buffered before a target is picked, so the target never even sees it.
func TestClientBodyAbort(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	v1 := target(t, s, "v1", backend(t, "v1", nil))
	s.Switch(v1)
	for i, size := range []int{100, 1 << 20} { // buffered, and streamed from a goroutine
		conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\npartial", size)
		if size > 64<<10 {
			waitFor(t, "the upload to reach the target", func() bool { return v1.InFlight() == 1 })
		}
		conn.Close()
		waitFor(t, "the aborted upload to count as a client error", func() bool { return s.ClientErrors() == uint64(i+1) })
		waitFor(t, "the aborted upload to release the target", func() bool { return v1.InFlight() == 0 })
	}
	if st := v1.Stats(); st.TransportErrors != 0 || st.Requests != 0 {
		t.Errorf("client aborts counted as %d transport errors, %d requests", st.TransportErrors, st.Requests)
	}
}
