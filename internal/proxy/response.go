package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
)

// This file reads a target's HTTP/1.x response head straight into the
// client's header map, and frames its body, without the intermediate
// http.Response, header map and readers that http.ReadResponse allocates
// on every request. It implements RFC 9112 §4–§7 for responses: status
// line, fields (no obs-fold), and body length from the request method,
// status, Transfer-Encoding and Content-Length.

// errBadResponse marks a response the proxy refuses to relay (answered 502).
var errBadResponse = errors.New("malformed response from target")

const (
	maxHeaderBytes = 1 << 20 // response head size limit
	maxFields      = 256     // response header field limit
)

// bodyMode is how a response body ends.
type bodyMode uint8

const (
	bodyNone    bodyMode = iota // HEAD, 1xx, 204, 304
	bodyLength                  // Content-Length bytes
	bodyChunked                 // chunked transfer coding, then trailers
	bodyClose                   // until the target closes the connection
)

// respHead is what forward needs to know about a response beyond the
// headers already copied to the client.
type respHead struct {
	status  int
	mode    bodyMode
	length  int64  // for bodyLength
	close   bool   // the connection may not carry another request
	stream  bool   // text/event-stream
	upgrade string // Upgrade field of a 101

	// header101 holds the end-to-end fields of a 101, which go to the
	// hijacked connection rather than the client's header map.
	header101 http.Header
}

// field is one parsed header field; its value sits in the scratch buffer.
type field struct {
	key        string
	start, end int
}

// readHead reads one response head from c into dst (the client's header
// map), leaving out hop-by-hop fields. An interim 1xx response other than
// 101 is returned like a final one (status < 200, bodyNone): the caller
// relays it and reads the next head. A Content-Length that is invalid or
// conflicts with another one fails with errBadResponse (RFC 9112 §6.3):
// nothing after such a head can be framed, so the connection is unusable.
// On error dst is untouched.
func readHead(c *upConn, method string, dst http.Header) (respHead, error) {
	h, fields, err := parseHead(c)
	if err != nil {
		return respHead{}, err
	}
	if err := checkLength(fields, c.scratch); err != nil {
		return respHead{}, err
	}
	if h.status == http.StatusSwitchingProtocols {
		h.header101 = http.Header{}
		dst = h.header101
	}
	h.applyFields(c, method, fields, dst)
	return h, nil
}

// checkLength refuses a head whose Content-Length fields are not one
// valid, non-negative decimal number (a list of equal values counts as
// one). A Transfer-Encoding does not excuse a malformed length: a sender
// that writes one cannot be trusted to frame anything.
func checkLength(fields []field, scratch []byte) error {
	n := int64(-1)
	for _, f := range fields {
		if f.key != "Content-Length" {
			continue
		}
		m, ok := parseLength(string(scratch[f.start:f.end]))
		if !ok || (n >= 0 && m != n) {
			return fmt.Errorf("invalid or conflicting Content-Length %q: %w", clip(scratch[f.start:f.end]), errBadResponse)
		}
		n = m
	}
	return nil
}

// parseHead reads the status line and fields into c.scratch.
func parseHead(c *upConn) (respHead, []field, error) {
	var h respHead
	line, err := readLine(c)
	if err != nil {
		return h, nil, err
	}
	proto, rest, _ := bytes.Cut(line, []byte{' '})
	switch string(proto) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		h.close = true // unless it says keep-alive, below
	default:
		return h, nil, fmt.Errorf("status line %q: %w", clip(line), errBadResponse)
	}
	code, _, _ := bytes.Cut(rest, []byte{' '})
	if len(code) != 3 || code[0] < '1' || code[0] > '9' || !isDigits(code) {
		return h, nil, fmt.Errorf("status line %q: %w", clip(line), errBadResponse)
	}
	h.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')

	c.scratch = c.scratch[:0]
	fields := c.fields[:0]
	total := len(line)
	for {
		line, err := readLine(c)
		if err != nil {
			return h, nil, err
		}
		if len(line) == 0 {
			break
		}
		if total += len(line); total > maxHeaderBytes || len(fields) == maxFields {
			return h, nil, fmt.Errorf("response head too large: %w", errBadResponse)
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok || !validKey(k) {
			return h, nil, fmt.Errorf("header line %q: %w", clip(line), errBadResponse)
		}
		v = bytes.Trim(v, " \t")
		if !validValue(v) {
			return h, nil, fmt.Errorf("header %q has control bytes: %w", k, errBadResponse)
		}
		start := len(c.scratch)
		c.scratch = append(c.scratch, v...)
		fields = append(fields, field{key: canonicalKey(k), start: start, end: len(c.scratch)})
	}
	c.fields = fields
	return h, fields, nil
}

// applyFields interprets the framing fields and copies the end-to-end ones
// into dst with two allocations: one string for all values, one slice.
func (h *respHead) applyFields(c *upConn, method string, fields []field, dst http.Header) {
	all := string(c.scratch)
	vals := make([]string, len(fields))
	var connBuf [2]string
	connection := connBuf[:0]
	length, lengthSeen, te := int64(-1), false, ""
	for i, f := range fields {
		v := all[f.start:f.end]
		vals[i] = v
		switch f.key {
		case "Connection":
			connection = append(connection, v)
		case "Content-Length":
			length, _ = parseLength(v) // checkLength vetted every value
			lengthSeen = true
		case "Transfer-Encoding":
			te = v
		case "Upgrade":
			h.upgrade = v
		case "Content-Type":
			h.stream = len(v) >= 17 && strings.EqualFold(v[:17], "text/event-stream")
		}
	}
	switch {
	case listedIn(connection, "close"):
		h.close = true
	case h.close && listedIn(connection, "keep-alive"):
		h.close = false // HTTP/1.0 keep-alive
	}

	switch {
	case method == http.MethodHead || h.status < 200 || h.status == http.StatusNoContent || h.status == http.StatusNotModified:
		h.mode = bodyNone
		// A body may still follow from a careless app, later than any
		// check before reuse could see it: after a HEAD (whose head
		// describes a body), or a 204/304 that declares one, the
		// connection is not reused.
		if h.status >= 200 && (method == http.MethodHead || te != "" || (lengthSeen && length > 0)) {
			h.close = true
		}
	case te != "":
		// Transfer-Encoding overrides Content-Length (RFC 9112 §6.3).
		h.mode = bodyClose
		if lastCoding(te) == "chunked" {
			h.mode = bodyChunked
		}
		if lengthSeen {
			h.close = true
		}
	case lengthSeen:
		h.mode, h.length = bodyLength, length
	default:
		h.mode, h.close = bodyClose, true
	}
	if h.mode == bodyClose {
		h.close = true
	}

	passLength := lengthSeen && te == ""
	for i, f := range fields {
		switch {
		case f.key == "Trailer":
			if h.mode != bodyChunked {
				continue // announces trailers only a chunked body can carry
			}
		case isHopHeader(f.key):
			continue
		case f.key == "Content-Length" && !passLength:
			continue
		case len(connection) > 0 && listedIn(connection, f.key):
			continue
		}
		if firstOf(fields[:i], f.key) {
			dst[f.key] = vals[i : i+1 : i+1]
		} else {
			dst[f.key] = append(dst[f.key], vals[i])
		}
	}
}

// readLine returns the next line without its CRLF. Lines longer than the
// reader's buffer are assembled in c.long.
func readLine(c *upConn) ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		c.long = append(c.long[:0], line...)
		for err == bufio.ErrBufferFull && len(c.long) <= maxHeaderBytes {
			line, err = c.br.ReadSlice('\n')
			c.long = append(c.long, line...)
		}
		line = c.long
	}
	if err != nil {
		if err == bufio.ErrBufferFull {
			err = fmt.Errorf("header line too long: %w", errBadResponse)
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// commonKeys interns canonical names of frequent response fields so that
// parsing them does not allocate.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept-Ranges", "Access-Control-Allow-Origin", "Age", "Cache-Control", "Connection",
		"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
		"Content-Security-Policy", "Content-Type", "Date", "Etag", "Expires", "Keep-Alive",
		"Last-Modified", "Location", "Pragma", "Referrer-Policy", "Server", "Set-Cookie",
		"Strict-Transport-Security", "Trailer", "Transfer-Encoding", "Upgrade", "Vary", "Via",
		"X-Content-Type-Options", "X-Frame-Options", "X-Powered-By", "X-Request-Id", "X-Version",
	} {
		m[k] = k
	}
	return m
}()

func canonicalKey(k []byte) string {
	if s, ok := commonKeys[string(k)]; ok { // no allocation for the lookup
		return s
	}
	return http.CanonicalHeaderKey(string(k))
}

// validKey reports a non-empty RFC 9110 token.
func validKey(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, b := range k {
		if b >= 0x80 || !isTokenChar[b] {
			return false
		}
	}
	return true
}

var isTokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validValue rejects control bytes other than horizontal tab.
func validValue(v []byte) bool {
	for _, b := range v {
		if (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// parseLength accepts a Content-Length, including a list of equal values.
func parseLength(v string) (int64, bool) {
	n := int64(-1)
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if !isDigits([]byte(part)) || len(part) > 18 {
			return -1, false
		}
		m, _ := strconv.ParseInt(part, 10, 64)
		if n >= 0 && m != n {
			return -1, false
		}
		n = m
	}
	return n, n >= 0
}

func lastCoding(te string) string {
	if i := strings.LastIndexByte(te, ','); i >= 0 {
		te = te[i+1:]
	}
	return strings.ToLower(strings.TrimSpace(te))
}

func firstOf(prev []field, key string) bool {
	for _, f := range prev {
		if f.key == key {
			return false
		}
	}
	return true
}

// clip shortens a line quoted in an error.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// bodyReader reads one response body off the connection as its head
// framed it. Trailers of a chunked body are parsed into trailer.
type bodyReader struct {
	c       *upConn
	mode    bodyMode
	n       int64     // bytes left, for bodyLength
	chunked io.Reader // for bodyChunked
	trailer http.Header
}

func newBodyReader(c *upConn, h *respHead) bodyReader {
	b := bodyReader{c: c, mode: h.mode, n: h.length}
	if h.mode == bodyChunked {
		b.chunked = httputil.NewChunkedReader(c.br)
	}
	return b
}

// Read returns io.EOF exactly at the end of a well-framed body and
// io.ErrUnexpectedEOF when the target closed early.
func (b *bodyReader) Read(p []byte) (int, error) {
	switch b.mode {
	case bodyLength:
		if b.n <= 0 {
			return 0, io.EOF
		}
		if int64(len(p)) > b.n {
			p = p[:b.n]
		}
		n, err := b.c.br.Read(p)
		b.n -= int64(n)
		switch {
		case b.n == 0:
			return n, io.EOF
		case err == io.EOF:
			return n, io.ErrUnexpectedEOF
		}
		return n, err
	case bodyChunked:
		n, err := b.chunked.Read(p)
		if err == io.EOF {
			if terr := b.readTrailer(); terr != nil {
				return n, terr
			}
		}
		return n, err
	case bodyClose:
		return b.c.br.Read(p)
	}
	return 0, io.EOF
}

// readTrailer parses the fields after the last chunk.
func (b *bodyReader) readTrailer() error {
	for n := 0; ; n++ {
		line, err := readLine(b.c)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		v = bytes.Trim(v, " \t")
		if !ok || !validKey(k) || !validValue(v) || n == maxFields {
			return fmt.Errorf("trailer line %q: %w", clip(line), errBadResponse)
		}
		if b.trailer == nil {
			b.trailer = http.Header{}
		}
		key := canonicalKey(k)
		b.trailer[key] = append(b.trailer[key], string(v))
	}
}
