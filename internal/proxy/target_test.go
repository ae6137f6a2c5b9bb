package proxy

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestInvalidRequestTargetRefused: Go's HTTP/2 server (and HTTP/3's) hands
// the handler any :path that starts with "/", spaces and "#" included, as
// the request's RequestURI. Written as is into the upstream request line it
// rewrites that line ("GET /a HTTP/1.1 /admin HTTP/1.1"), an HTTP/2 to
// HTTP/1 downgrade smuggle. Such a request is the client's error: 400, never
// forwarded, never counted against the version.
func TestInvalidRequestTargetRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					lines <- strings.TrimRight(line, "\r\n")
					for { // the rest of the head
						h, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if h == "\r\n" {
							break
						}
					}
					c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })

	p := New(Options{Logger: discardLogger(), ResponseHeaderTimeout: 5 * time.Second})
	s, err := p.SetService("web", []string{"example.com"}, "", ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Switch(newTargetAt(t, s, "v1", ln.Addr().String()))

	for _, uri := range []string{"/a HTTP/1.1 /admin", "/a\tb", "/a#b", "/a?x y"} {
		// As net/http's HTTP/2 server builds it from a :path.
		r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
		r.RequestURI = uri
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest {
			t.Errorf("RequestURI %q: status %d, want 400", uri, w.Code)
		}
		select {
		case l := <-lines:
			t.Errorf("RequestURI %q reached the target as %q", uri, l)
		default:
		}
	}
	if n := s.ClientErrors(); n != 4 {
		t.Errorf("client errors = %d, want 4", n)
	}
	// A valid one still passes, unchanged.
	r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
	r.RequestURI = "/caf%C3%A9?q=1&r=%20"
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("valid target: status %d", w.Code)
	}
	if l := <-lines; l != "GET /caf%C3%A9?q=1&r=%20 HTTP/1.1" {
		t.Errorf("request line = %q", l)
	}
}
