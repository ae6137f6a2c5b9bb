package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// reqBody is a request body as forward sends it upstream. Small bodies are
// read whole before a target is picked (bufferBody), so a client that
// trickles its upload holds no upstream connection and keeps no target in
// flight; only bodies larger than Options.RequestBufferSize stream.
type reqBody struct {
	// length is what the upstream head announces: > 0 a Content-Length,
	// < 0 chunked, 0 no body.
	length int64
	// buf holds the body, or its first part when rest is set.
	buf []byte
	// rest is the part still to be read from the client, or nil when the
	// whole body is in buf.
	rest *deadlineReader
}

// buffered reports a body that is entirely in memory (or absent): sending
// it cannot fail because of the client.
func (b *reqBody) buffered() bool { return b.rest == nil }

// bufferBody reads a small request body before any target is involved. A
// body of known length up to the limit is read whole; one of unknown
// length (chunked) is read up to the limit and, when it ends there, sent
// with a Content-Length (or chunked with its trailers, if it declared
// some). A longer body streams after what was read. Each read of the
// client is bounded by ClientBodyTimeout. On a client failure it answers
// (400, or nothing for a client that went away), counts a client error and
// returns false.
func (s *Service) bufferBody(w http.ResponseWriter, r *http.Request) (reqBody, bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return reqBody{}, true
	}
	o := s.p.o()
	limit := o.RequestBufferSize
	if limit <= 0 || r.ContentLength > limit {
		return reqBody{length: r.ContentLength, rest: s.p.clientReader(w, r)}, true
	}
	rd := s.p.clientReader(w, r)
	defer rd.done()
	if r.ContentLength > 0 {
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(rd, buf); err != nil {
			s.clientFailed(w, r, err)
			return reqBody{}, false
		}
		return reqBody{length: r.ContentLength, buf: buf}, true
	}
	var bb bytes.Buffer
	n, err := bb.ReadFrom(io.LimitReader(rd, limit+1))
	if err != nil {
		s.clientFailed(w, r, err)
		return reqBody{}, false
	}
	switch {
	case n > limit:
		return reqBody{length: -1, buf: bb.Bytes(), rest: rd}, true
	case n == 0:
		return reqBody{length: 0}, true
	case len(r.Trailer) > 0:
		return reqBody{length: -1, buf: bb.Bytes()}, true
	}
	return reqBody{length: n, buf: bb.Bytes()}, true
}

// clientFailed answers and counts a request that failed because of its
// client: bad framing, a reset, or a timeout. Such a failure says nothing
// about the app, so it never enters a target's statistics.
func (s *Service) clientFailed(w http.ResponseWriter, r *http.Request, err error) {
	s.clientErrors.Add(1)
	s.p.o().Logger.Debug("client error", "service", s.name, "method", r.Method, "path", r.URL.Path, "err", err)
	// net/http cancels the request's context on any failed read of the
	// connection; after a timeout the client may still be listening.
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	if r.Context().Err() != nil && !timeout {
		return // gone: nobody to answer
	}
	msg := "hotswap: could not read the request body\n"
	if timeout {
		msg = "hotswap: the request body did not arrive in time\n"
	}
	w.Header()["Connection"] = closeConn
	plainError(w, http.StatusBadRequest, msg)
}

var closeConn = []string{"close"}

// deadlineReader reads the client's request body with a read deadline of
// ClientBodyTimeout before each read, so a client that stops sending is cut
// off, and marks its errors as the client's (clientError).
//
// It may be read by forward's body-writer goroutine after the handler has
// returned (the target answered before taking the whole body). From then on
// the ResponseController must not be touched (net/http's HTTP/2 writer
// crashes when used after its handler returned), so the handler calls
// finish before returning and mu orders that against the reader's use of rc.
type deadlineReader struct {
	r       io.Reader
	rc      *http.ResponseController
	timeout time.Duration

	mu    sync.Mutex
	armed bool // a read deadline is set; guarded by mu
	over  bool // the handler returned; guarded by mu
}

func (p *Proxy) clientReader(w http.ResponseWriter, r *http.Request) *deadlineReader {
	d := &deadlineReader{r: r.Body, timeout: p.o().ClientBodyTimeout}
	if d.timeout > 0 {
		d.rc = http.NewResponseController(w)
	}
	return d
}

// errHandlerDone fails reads of a body whose request has been answered.
var errHandlerDone = errors.New("the request was answered before its body was read")

func (d *deadlineReader) Read(p []byte) (int, error) {
	d.mu.Lock()
	if d.over {
		d.mu.Unlock()
		return 0, &clientError{errHandlerDone}
	}
	if d.rc != nil {
		d.armed = d.rc.SetReadDeadline(time.Now().Add(d.timeout)) == nil
	}
	d.mu.Unlock()
	n, err := d.r.Read(p)
	if err != nil {
		d.done()
		if err != io.EOF {
			err = &clientError{err}
		}
	}
	return n, err
}

// done removes the read deadline. It must run as soon as the body ends:
// net/http then starts a background read of the connection that would
// take an expired deadline for a dead client and cancel the request.
func (d *deadlineReader) done() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.armed && !d.over {
		d.armed = false
		d.rc.SetReadDeadline(time.Time{})
	}
}

// finish is called by the handler before it returns: later reads fail and
// nothing touches the response any more. A read in progress keeps its
// deadline, which bounds how long it can hold the client's body (net/http
// waits for it before reading the next request, and then sets its own).
func (d *deadlineReader) finish() {
	d.mu.Lock()
	d.over = true
	d.mu.Unlock()
}
