package daemon

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzRedirectHTTPS: whatever request line and Host a client sends, a
// redirect points at https on the configured port of the very host the
// route matched, with the request's own path and query, and carries no
// header injection.
func FuzzRedirectHTTPS(f *testing.F) {
	for _, seed := range [][2]string{
		{"/a/b?q=1", "web.test"}, {"/", "WEB.TEST:80"}, {"//evil.test/x", "web.test"}, {"/x", "[::1]:80"},
		{"http://web.test/abs?x", "web.test"}, {"/%0d%0aSet-Cookie:x", "web.test."}, {"/_hotswap/up", "web.test"},
	} {
		f.Add(seed[0], seed[1])
	}
	h := &redirectHTTPS{
		next:       http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) }),
		route:      func(host, _ string) string { return map[bool]string{true: "web"}[routeHost(host) == "web.test"] },
		services:   map[string]bool{"web": true},
		healthPath: "/_hotswap/up",
		port:       func() string { return "8443" },
	}
	f.Fuzz(func(t *testing.T, target, host string) {
		raw := "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http refuses it before any handler runs
		}
		r.RemoteAddr = "127.0.0.1:1"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == 299 {
			return
		}
		if w.Code != http.StatusMovedPermanently {
			t.Fatalf("status %d", w.Code)
		}
		loc := w.Header().Get("Location")
		u, err := url.Parse(loc)
		if err != nil || strings.ContainsAny(loc, "\r\n") {
			t.Fatalf("Location %q: %v", loc, err)
		}
		if u.Scheme != "https" || routeHost(u.Host) != "web.test" || u.Port() != "8443" || u.User != nil {
			t.Fatalf("Location %q for Host %q leaves the routed host", loc, r.Host)
		}
		if u.RequestURI() != r.URL.RequestURI() {
			t.Fatalf("Location %q: request URI %q, want %q", loc, u.RequestURI(), r.URL.RequestURI())
		}
	})
}

// routeHost is the host part the proxy routes on: lower case, no port, no
// trailing dot.
func routeHost(h string) string {
	if u, err := url.Parse("//" + h); err == nil && u.Hostname() != "" {
		h = u.Hostname()
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}
