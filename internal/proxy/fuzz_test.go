package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzReadHead feeds arbitrary bytes from a "target" to the response
// parser and body framer. Whatever the bytes, it must not panic, must copy
// no field whose value could break the client's response, must pass on a
// Content-Length only when it frames the body, and must never read past
// the end of a body it framed by length.
func FuzzReadHead(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + smuggled,
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 22\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, raw string, head bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		c := &upConn{br: bufio.NewReaderSize(strings.NewReader(raw), 64)}
		dst := http.Header{}
		h, err := readHead(c, method, dst)
		if err != nil {
			if len(dst) != 0 {
				t.Fatalf("header map touched on error %v: %v", err, dst)
			}
			return
		}
		if h.status < 100 || h.status > 999 {
			t.Fatalf("status %d", h.status)
		}
		for k, vs := range dst {
			if !validKey([]byte(k)) || (isHopHeader(k) && !(k == "Trailer" && h.mode == bodyChunked)) {
				t.Fatalf("field %q copied to the client", k)
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("field %q value %q copied to the client", k, v)
				}
			}
		}
		if cl := dst["Content-Length"]; len(cl) > 0 {
			n, ok := parseLength(cl[0])
			if !ok || (h.mode != bodyLength && h.mode != bodyNone) || (h.mode == bodyLength && n != h.length) {
				t.Fatalf("Content-Length %q passed on for mode %d length %d", cl, h.mode, h.length)
			}
		}
		if h.mode == bodyLength && h.length < 0 {
			t.Fatalf("negative length %d", h.length)
		}
		b := newBodyReader(c, &h)
		body, err := io.ReadAll(io.LimitReader(&b, 1<<20))
		if h.mode == bodyLength && err == nil {
			if int64(len(body)) != h.length {
				t.Fatalf("framed %d bytes, want %d", len(body), h.length)
			}
			// Exactly the body was consumed: what follows is untouched.
			rest, _ := io.ReadAll(c.br)
			if !strings.HasSuffix(raw, string(body)+string(rest)) {
				t.Fatalf("body %q and rest %q are not the end of the input", body, rest)
			}
		}
		if h.mode == bodyNone && len(body) != 0 {
			t.Fatalf("bodyless response read %d body bytes", len(body))
		}
	})
}

// FuzzWriteHead builds the upstream request head from any request that
// net/http's server accepts and parses it back: it must be exactly one
// well-formed request with the same method, target and host, with framing
// the proxy derived itself, no hop-by-hop field and nothing after the head
// (no injected second request).
func FuzzWriteHead(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\r\nabc",
		"PUT /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTe: trailers\r\nTrailer: X-Sum\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nX-Hotswap-Preview: s\r\n\r\n",
		"GET http://other/abs HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET A: HTTP/1.1\r\nHost: a\r\n\r\n", // opaque URI: once sent upstream with an empty path
	} {
		f.Add(seed, false, false)
		f.Add(seed, true, true)
	}
	f.Fuzz(func(t *testing.T, raw string, trust, stripP bool) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil || r.Method == http.MethodConnect || r.ProtoMajor != 1 {
			return // net/http's server refuses these before the proxy sees them
		}
		r.RemoteAddr = "192.0.2.1:1234"
		strip := ""
		if stripP {
			strip = "/p" // a normalised route prefix
		}
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		upgrade := upgradeType(r)
		writeHead(bw, r, headOptions{uri: requestURI(r, strip), length: r.ContentLength, upgrade: upgrade,
			previewHeader: "X-Hotswap-Preview", trust: trust})
		bw.Flush()
		out := buf.String()

		br := bufio.NewReader(strings.NewReader(out))
		got, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("upstream head does not parse: %v\n%q", err, out)
		}
		if br.Buffered() != 0 {
			t.Fatalf("bytes after the upstream head: %q", out)
		}
		if got.Method != r.Method || got.Host != r.Host {
			t.Fatalf("method/host %q %q, want %q %q", got.Method, got.Host, r.Method, r.Host)
		}
		for _, k := range []string{"Keep-Alive", "Proxy-Connection", "Expect", "X-Hotswap-Preview"} {
			if _, ok := got.Header[k]; ok {
				t.Fatalf("%s forwarded: %q", k, out)
			}
		}
		if upgrade == "" && len(got.Header["Connection"]) > 0 {
			t.Fatalf("Connection forwarded without an upgrade: %q", out)
		}
		switch {
		case r.ContentLength > 0:
			if got.ContentLength != r.ContentLength {
				t.Fatalf("Content-Length %d, want %d", got.ContentLength, r.ContentLength)
			}
		case r.ContentLength < 0:
			if len(got.TransferEncoding) != 1 || got.TransferEncoding[0] != "chunked" {
				t.Fatalf("unknown-length body not sent chunked: %q", out)
			}
		}
		if xff := got.Header.Get("X-Forwarded-For"); !strings.HasSuffix(xff, "192.0.2.1") {
			t.Fatalf("X-Forwarded-For %q", xff)
		}
		if !trust && got.Header.Get("X-Forwarded-Host") != r.Host {
			t.Fatalf("X-Forwarded-Host %q, want %q", got.Header.Get("X-Forwarded-Host"), r.Host)
		}
	})
}
