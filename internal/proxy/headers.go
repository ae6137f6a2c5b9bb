package proxy

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// isHopHeader reports the hop-by-hop headers of RFC 9110 §7.6.1 (and their
// common non-standard relatives), which describe one connection and must
// not be forwarded. Keys are canonical, as net/http parsed them.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// listedIn reports whether header k is named by a Connection header, which
// makes it hop-by-hop too.
func listedIn(connection []string, k string) bool {
	for _, line := range connection {
		for line != "" {
			var tok string
			tok, line, _ = strings.Cut(line, ",")
			if strings.EqualFold(strings.TrimSpace(tok), k) {
				return true
			}
		}
	}
	return false
}

// upgradeType returns the protocol r asks to upgrade to ("websocket"), or "".
func upgradeType(r *http.Request) string {
	conn := r.Header["Connection"]
	if len(conn) == 0 || !listedIn(conn, "upgrade") {
		return ""
	}
	if u := r.Header["Upgrade"]; len(u) > 0 {
		return u[0]
	}
	return ""
}

// requestURI is the origin-form target to send upstream, with the route's
// prefix removed when strip is set.
func requestURI(r *http.Request, strip string) string {
	if strip == "" && strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI // as the client sent it: already valid, no allocation
	}
	if r.RequestURI == "*" {
		return "*"
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/" // absolute-form without a path, or an opaque URI
	}
	if strip != "" {
		path = strings.TrimPrefix(path, strip)
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		path += "?" + r.URL.RawQuery
	}
	return path
}

// headOptions carries what writeHead needs besides the request.
type headOptions struct {
	uri           string
	length        int64  // body length to announce: > 0 Content-Length, < 0 chunked, 0 none
	upgrade       string // protocol to request an upgrade to, or ""
	previewHeader string // header consumed by the proxy, not forwarded
	trust         bool   // Options.TrustForwardedHeaders
}

// writeHead writes r's request line and headers for the target: hop-by-hop
// headers and Expect are dropped (net/http already answered any
// "100-continue" when the body is read), framing is the proxy's own
// (ho.length: a buffered chunked body goes with a Content-Length), Host
// passes through, and X-Forwarded-* are set. net/http
// validated every name and value, so none can inject a line.
func writeHead(bw *bufio.Writer, r *http.Request, ho headOptions) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(ho.uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")

	connection := r.Header["Connection"]
	for k, vs := range r.Header {
		switch {
		case isHopHeader(k), k == "Content-Length", k == "Expect", k == ho.previewHeader,
			k == "X-Forwarded-For", k == "X-Forwarded-Proto", k == "X-Forwarded-Host":
			if k == "Te" && listedIn(vs, "trailers") {
				bw.WriteString("Te: trailers\r\n") // announces gRPC-style trailer support end to end
			}
			continue
		case len(connection) > 0 && listedIn(connection, k):
			continue
		}
		for _, v := range vs {
			writeField(bw, k, v)
		}
	}

	if ho.upgrade != "" {
		bw.WriteString("Connection: Upgrade\r\n")
		writeField(bw, "Upgrade", ho.upgrade)
	}
	switch {
	case ho.length > 0:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(ho.length, 10))
		bw.WriteString("\r\n")
	case ho.length < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	if len(r.Trailer) > 0 && ho.length < 0 {
		for k := range r.Trailer {
			writeField(bw, "Trailer", k)
		}
	}
	writeForwarded(bw, r, ho.trust)
	bw.WriteString("\r\n")
}

func writeForwarded(bw *bufio.Writer, r *http.Request, trust bool) {
	ip := r.RemoteAddr
	if h, _, err := net.SplitHostPort(ip); err == nil {
		ip = h
	}
	bw.WriteString("X-Forwarded-For: ")
	if prior := r.Header["X-Forwarded-For"]; trust && len(prior) > 0 {
		for _, p := range prior {
			bw.WriteString(p)
			bw.WriteString(", ")
		}
	}
	bw.WriteString(ip)
	bw.WriteString("\r\n")

	if p := r.Header["X-Forwarded-Proto"]; trust && len(p) > 0 {
		writeField(bw, "X-Forwarded-Proto", p[0])
	} else if r.TLS != nil {
		bw.WriteString("X-Forwarded-Proto: https\r\n")
	} else {
		bw.WriteString("X-Forwarded-Proto: http\r\n")
	}
	if h := r.Header["X-Forwarded-Host"]; trust && len(h) > 0 {
		writeField(bw, "X-Forwarded-Host", h[0])
	} else {
		writeField(bw, "X-Forwarded-Host", r.Host)
	}
}

func writeField(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}
