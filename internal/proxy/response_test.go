package proxy

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// rawConn wraps raw response bytes as a connection's reader; a small
// buffer exercises lines longer than it.
func rawConn(raw string) *upConn {
	return &upConn{br: bufio.NewReaderSize(strings.NewReader(raw), 32)}
}

func TestReadHead(t *testing.T) {
	long := strings.Repeat("a", 100)
	for _, tc := range []struct {
		name, method, raw string
		status            int
		mode              bodyMode
		length            int64
		close, stream     bool
		header            http.Header
		body, trailer     string // body read through bodyReader; trailer "K=v"
	}{
		{
			name: "length", raw: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n" +
				"Connection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nX-App: yes\r\n\r\nhello",
			status: 200, mode: bodyLength, length: 5, body: "hello",
			header: http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"5"}, "X-App": {"yes"}},
		},
		{
			name: "no reason phrase, repeated fields, long line", raw: "HTTP/1.1 404\r\nSet-Cookie: a=1\r\n" +
				"Set-Cookie: b=2\r\nx-lower: " + long + "\r\nContent-Length: 0\r\n\r\n",
			status: 404, mode: bodyLength,
			header: http.Header{"Set-Cookie": {"a=1", "b=2"}, "X-Lower": {long}, "Content-Length": {"0"}},
		},
		{
			name: "chunked with trailer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
				"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 9\r\n\r\n",
			status: 200, mode: bodyChunked, length: -1, body: "abcde", trailer: "X-Sum=9",
			header: http.Header{"Trailer": {"X-Sum"}},
		},
		{
			name: "transfer-encoding beats content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n" +
				"Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
			status: 200, mode: bodyChunked, length: -1, close: true, body: "x", header: http.Header{},
		},
		{
			name: "until close", raw: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n",
			status: 200, mode: bodyClose, length: -1, close: true, stream: true, body: "data: 1\n\n",
			header: http.Header{"Content-Type": {"text/event-stream"}},
		},
		{
			name: "http/1.0 closes", raw: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
			status: 200, mode: bodyLength, length: 2, close: true, body: "ok",
			header: http.Header{"Content-Length": {"2"}},
		},
		{
			name: "http/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok",
			status: 200, mode: bodyLength, length: 2, body: "ok", header: http.Header{"Content-Length": {"2"}},
		},
		{
			name: "connection close", raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
			status: 200, mode: bodyLength, length: 2, close: true, body: "ok", header: http.Header{"Content-Length": {"2"}},
		},
		{
			// Not reused: a careless app may send the body later (TestDelayedBodyAfterBodylessAnswer).
			name: "head", method: "HEAD", raw: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
			status: 200, mode: bodyNone, length: -1, close: true, header: http.Header{"Content-Length": {"100"}},
		},
		{
			name: "204", raw: "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
			status: 204, mode: bodyNone, length: -1, header: http.Header{"X-A": {"1"}},
		},
		{
			name: "304", raw: "HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\n\r\n",
			status: 304, mode: bodyNone, length: -1, header: http.Header{"Etag": {`"x"`}},
		},
		{
			name: "equal content-length list", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
			status: 200, mode: bodyLength, length: 2, body: "ok", header: http.Header{"Content-Length": {"2, 2"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawConn(tc.raw)
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			dst := http.Header{}
			h, err := readHead(c, method, dst)
			if err != nil {
				t.Fatal(err)
			}
			if h.status != tc.status || h.mode != tc.mode || h.close != tc.close || h.stream != tc.stream ||
				(tc.mode == bodyLength && h.length != tc.length) {
				t.Errorf("head = %+v, want status %d mode %d length %d close %v stream %v",
					h, tc.status, tc.mode, tc.length, tc.close, tc.stream)
			}
			if !reflect.DeepEqual(dst, tc.header) {
				t.Errorf("header = %v, want %v", dst, tc.header)
			}
			b := newBodyReader(c, &h)
			got, err := io.ReadAll(&b)
			if err != nil || string(got) != tc.body {
				t.Errorf("body = %q, %v; want %q", got, err, tc.body)
			}
			var tr string
			for k, vs := range b.trailer {
				tr = k + "=" + strings.Join(vs, ",")
			}
			if tr != tc.trailer {
				t.Errorf("trailer = %q, want %q", tr, tc.trailer)
			}
		})
	}
}

func TestReadHeadUpgrade(t *testing.T) {
	c := rawConn("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: abc\r\n\r\n")
	dst := http.Header{}
	h, err := readHead(c, http.MethodGet, dst)
	if err != nil {
		t.Fatal(err)
	}
	if h.status != 101 || h.upgrade != "websocket" || len(dst) != 0 ||
		!reflect.DeepEqual(h.header101, http.Header{"Sec-Websocket-Accept": {"abc"}}) {
		t.Errorf("head = %+v, dst = %v", h, dst)
	}
}

func TestReadHeadRejects(t *testing.T) {
	for _, raw := range []string{
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Key: v\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty key\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: 1\r\n", maxFields+1) + "\r\n",
	} {
		dst := http.Header{}
		if _, err := readHead(rawConn(raw), http.MethodGet, dst); !errors.Is(err, errBadResponse) {
			t.Errorf("%q: err = %v, want errBadResponse", raw, err)
		}
		if len(dst) != 0 {
			t.Errorf("%q: header map touched on error: %v", raw, dst)
		}
	}
	// Truncated: the target hung up.
	if _, err := readHead(rawConn(""), http.MethodGet, http.Header{}); err != io.EOF {
		t.Errorf("empty reply: err = %v, want io.EOF", err)
	}
	h, err := readHead(rawConn("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"), http.MethodGet, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	c := rawConn("short")
	b := newBodyReader(c, &h)
	if _, err := io.ReadAll(&b); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: err = %v, want unexpected EOF", err)
	}
	// Invalid or conflicting lengths cannot frame anything: refused.
	for _, cl := range []string{"Content-Length: 3\r\nContent-Length: 4", "Content-Length: 3, 4",
		"Content-Length: +3", "Content-Length: -1", "Content-Length: 3x", "Content-Length: ",
		"Transfer-Encoding: chunked\r\nContent-Length: x"} {
		raw := "HTTP/1.1 200 OK\r\n" + cl + "\r\n\r\n"
		if _, err := readHead(rawConn(raw), http.MethodGet, http.Header{}); !errors.Is(err, errBadResponse) {
			t.Errorf("%q: err = %v, want errBadResponse", cl, err)
		}
	}
}
