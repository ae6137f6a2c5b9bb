package daemon

import (
	"net"
	"net/http"
	"strings"

	"github.com/hotswap/hotswap/internal/certs"
)

// tlsHeaders adds the headers every HTTPS response carries before the
// proxy answers: HSTS when configured, and Alt-Svc advertising HTTP/3 on
// TCP connections when it is on.
type tlsHeaders struct {
	next   http.Handler
	hsts   string // Strict-Transport-Security value, or ""
	altSvc string // Alt-Svc value, or ""; set before serving starts
}

func (h *tlsHeaders) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if h.hsts != "" {
		hdr["Strict-Transport-Security"] = []string{h.hsts}
	}
	if h.altSvc != "" && r.ProtoMajor < 3 {
		hdr["Alt-Svc"] = []string{h.altSvc}
	}
	h.next.ServeHTTP(w, r)
}

// redirectHTTPS answers plain-HTTP requests for services with
// redirect_http with a redirect to the same URL over HTTPS. The health
// path passes through (load balancers probe it over HTTP), and so do ACME
// HTTP-01 challenges: hotswap's own are answered in front of this handler,
// others belong to the app.
type redirectHTTPS struct {
	next       http.Handler
	route      func(host, path string) string // the proxy's lookup
	services   map[string]bool                // services that redirect; read-only
	healthPath string
	port       func() string // the HTTPS port, "" or "443" for the default
}

func (h *redirectHTTPS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	uri := r.URL.RequestURI()
	if r.URL.Path == h.healthPath || certs.IsChallenge(r.URL.Path) || !strings.HasPrefix(uri, "/") ||
		!h.services[h.route(r.Host, r.URL.Path)] {
		h.next.ServeHTTP(w, r) // "*" (OPTIONS) has no HTTPS URL to go to
		return
	}
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := h.port(); p != "" && p != "443" {
		host += ":" + p
	}
	code := http.StatusMovedPermanently
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		code = http.StatusPermanentRedirect // keeps the method and body
	}
	w.Header()["Location"] = []string{"https://" + host + uri}
	w.Header()["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(code)
}
