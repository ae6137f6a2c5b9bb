package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// serve handles one request for the service: read a small body, pick a
// target, forward, and when the attempt failed before the target could
// have acted on the request, pick again (the live pointer may have moved
// on) and retry once.
func (s *Service) serve(w http.ResponseWriter, r *http.Request, send *sendDeadline) {
	o := s.cfg.Load()
	if !validTarget(r.RequestURI) {
		s.clientErrors.Add(1)
		plainError(w, http.StatusBadRequest, "hotswap: invalid request target\n")
		return
	}
	body, ok := s.bufferBody(w, r)
	if !ok {
		return
	}
	if body.rest != nil {
		// A body writer may still be reading the client when we return.
		defer body.rest.finish()
	}
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 && s.p.testBeforeRetry != nil {
			s.p.testBeforeRetry()
		}
		t, stick := s.pick(r, o)
		if t == nil {
			plainError(w, http.StatusServiceUnavailable,
				fmt.Sprintf("hotswap: service %q has no live version to serve this request\n", s.name))
			return
		}
		if !t.forward(w, r, &body, send, o, stick, attempt) {
			return
		}
	}
}

// forward sends r with body to t and streams the answer back. It releases
// t when done. It returns true, having written nothing, when the attempt
// failed in a way that is safe to retry and attempt is the first.
//
// The upstream connection goes back to the pool only when the exchange was
// exact: the request had no body (whether the target read a body cannot be
// known), the response was framed by its length or chunking and read to its
// end, and nothing more was received (put checks the buffer; get probes the
// socket before the next use). Anything else closes it.
func (t *Target) forward(w http.ResponseWriter, r *http.Request, body *reqBody, send *sendDeadline,
	o *serviceConfig, stick, attempt int) (retry bool) {
	defer t.release()
	ctx := r.Context()
	start := time.Now()
	mayRetry := attempt == 0

	hasBody := body.length != 0
	c, err := t.pool.get(ctx, start, attempt > 0)
	if err != nil {
		// Nothing was sent: any request may be replayed.
		return t.fail(w, r, err, mayRetry)
	}

	var strip string
	if o.StripPrefix {
		strip = o.prefix
	}
	var upgrade string
	if !hasBody {
		upgrade = upgradeType(r) // an upgrade carrying a body is served as a plain request
	}
	writeHead(c.bw, r, headOptions{
		uri:           requestURI(r, strip),
		length:        body.length,
		upgrade:       upgrade,
		previewHeader: o.PreviewHeader,
		trust:         t.svc.p.o().TrustForwardedHeaders,
	})
	before := c.nread

	var bodyDone chan error
	switch {
	case !hasBody:
		if err := c.bw.Flush(); err != nil {
			c.Close()
			return t.fail(w, r, err, mayRetry && c.reused && replayable(r) && isConnDrop(err))
		}
	case body.buffered():
		// In memory: written now with the head, saving a goroutine, even if
		// the target answers before reading it.
		if err := writeBody(c, body, r.Trailer); err != nil {
			return t.fail(w, r, err, false)
		}
	default:
		bodyDone = make(chan error, 1)
		b := *body // the writer's own copy: body itself stays on the stack
		go func() { bodyDone <- writeBody(c, &b, r.Trailer) }()
	}

	h := w.Header()
	head, err := t.readFinal(w, c, r, start, bodyDone != nil)
	if err != nil {
		c.Close()
		if c.clientFailed.Load() {
			// The client broke off or garbled its streamed body: not the
			// target's failure.
			t.svc.clientFailed(w, r, err)
			return false
		}
		// A reused connection that yields nothing but EOF was closed by
		// the target while idle; it never saw this request.
		stale := c.reused && c.nread == before && isConnDrop(err)
		if stale {
			t.pool.closeIdle() // its siblings are likely stale too
		}
		return t.fail(w, r, err, mayRetry && stale && body.buffered() && replayable(r))
	}
	headerAt := time.Now()
	latency := headerAt.Sub(start)

	// The header deadline stays armed while a small body is read, which
	// bounds a target that stalls mid-body at no extra cost; streams, large
	// bodies and upgraded connections may legitimately take longer.
	stream := head.mode == bodyChunked || head.mode == bodyClose || (head.stream && head.mode != bodyNone)
	upgraded := head.status == http.StatusSwitchingProtocols
	if upgraded || stream || head.length > smallBody {
		c.disarm()
	}
	if upgraded {
		t.serveUpgrade(w, r, c, &head, upgrade, o, stick, latency)
		return false
	}
	// A stream may idle for long: when its client goes away, close the
	// target connection, the only way to interrupt a blocked read. Other
	// responses notice a departed client at their next write.
	var stop func() bool
	var end *streamEnd
	if stream {
		stop = context.AfterFunc(ctx, func() { c.Close() })
		if head.stream && head.mode != bodyLength {
			end = &streamEnd{c: c}
			t.trackLong(end)
			defer t.untrackLong(end)
		}
	}

	if id := r.Header[requestIDHeader]; id != nil && !t.svc.p.o().NoRequestID {
		h[requestIDHeader] = id // the app's response head replaced the map's fields
	}
	if o.VersionHeader {
		h["X-Hotswap-Version"] = t.versionHdr
	}
	served(w, t)
	if stick >= 0 {
		h["Set-Cookie"] = append(h["Set-Cookie"], stickyCookie(o.StickyCookie, stick))
	}
	send.touchAt(headerAt) // the head may come long after the request started
	w.WriteHeader(head.status)
	t.stats.record(head.status, latency)

	rb := newBodyReader(c, &head)
	upErr, clientErr := copyBody(w, &rb, stream, send, end)
	for k, vs := range rb.trailer {
		h[http.TrailerPrefix+k] = vs
	}
	interrupted := stop != nil && !stop()
	// After a request that carried a body the connection is never reused:
	// nothing proves the target read that body. One that answered without
	// reading it (a 401 to an unauthenticated upload) parses the body as
	// its next request, and when its answer to that comes after the
	// connection went back to the pool, no probe can see it: the next user
	// would get it, and every user after them the previous one's response.
	if !interrupted && !hasBody && upErr == nil && clientErr == nil && !head.close && (end == nil || !end.bye.Load()) {
		idleSince := headerAt // a small body took no time; save a clock read
		if stream || head.length > 1<<20 {
			idleSince = time.Now()
		}
		t.pool.put(c, idleSince)
	} else {
		c.Close()
	}
	if upErr != nil && ctx.Err() == nil {
		t.stats.transport.Add(1)
		t.logTransport(r, upErr)
		// The status line is gone; make the client see a broken response
		// rather than a clean but truncated one.
		panic(http.ErrAbortHandler)
	}
	return false
}

// smallBody is the largest response body read under the header deadline.
const smallBody = 64 << 10

// maxInterim bounds the 1xx responses relayed before a final one.
const maxInterim = 16

// readFinal reads the target's response heads into the client's header map
// within ResponseHeaderTimeout (less at most 10%) of start, relaying
// interim 1xx responses (100 Continue, 103 Early Hints; not 101, which is
// final here) to the client as they come. HTTP/1.0 clients get none (RFC
// 9110 §15.2), nor does a client whose body is still being read when it
// sent Expect, as net/http may be writing its own 100 Continue then.
func (t *Target) readFinal(w http.ResponseWriter, c *upConn, r *http.Request, start time.Time, bodyRunning bool) (respHead, error) {
	if d := t.svc.p.o().ResponseHeaderTimeout; d > 0 {
		c.armHeaderDeadline(start, d) // the caller disarms it when needed
	}
	dst := w.Header()
	relay := r.ProtoAtLeast(1, 1) && !(bodyRunning && len(r.Header["Expect"]) > 0)
	for n := 0; ; n++ {
		head, err := readHead(c, r.Method, dst)
		if err != nil || head.status >= 200 || head.status == http.StatusSwitchingProtocols {
			return head, err
		}
		if n == maxInterim {
			return head, fmt.Errorf("more than %d interim responses: %w", maxInterim, errBadResponse)
		}
		if relay {
			w.WriteHeader(head.status)
		}
		clear(dst) // the interim fields are not the final response's
	}
}

// fail counts a failed attempt and, unless it will be retried, answers the
// client: 504 after a timeout, else 502. A client that went away gets
// nothing and the attempt is not counted as a request.
func (t *Target) fail(w http.ResponseWriter, r *http.Request, err error, retry bool) bool {
	if r.Context().Err() != nil {
		t.svc.clientErrors.Add(1)
		return false
	}
	t.stats.transport.Add(1)
	t.logTransport(r, err)
	if retry {
		return true
	}
	status, msg := http.StatusBadGateway, "hotswap: service %q failed while answering\n"
	var ne net.Error
	var de *dialError
	switch {
	case errors.As(err, &de):
		msg = "hotswap: service %q could not be reached\n"
	case errors.As(err, &ne) && ne.Timeout():
		status, msg = http.StatusGatewayTimeout, "hotswap: service %q did not answer in time\n"
	}
	t.stats.record(status, -1)
	plainError(w, status, fmt.Sprintf(msg, t.svc.name))
	return false
}

func (t *Target) logTransport(r *http.Request, err error) {
	t.svc.p.o().Logger.Debug("proxy transport error", "service", t.svc.name,
		"version", t.version, "method", r.Method, "path", r.URL.Path,
		"request_id", r.Header.Get(requestIDHeader), "err", err)
}

// replayable reports methods that may be sent twice (RFC 9110 §9.2.2), or
// a request the client marked with an idempotency key.
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return len(r.Header["Idempotency-Key"]) > 0 || len(r.Header["X-Idempotency-Key"]) > 0
}

// isConnDrop reports errors that mean the peer closed the connection.
func isConnDrop(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// validTarget reports a request target that can be written into an
// HTTP/1.1 request line as is: no space, control byte or "#". net/http's
// HTTP/1 server refuses such targets, but its HTTP/2 server (and HTTP/3's)
// accept any :path starting with "/", and written upstream verbatim a space
// would rewrite the request line the target parses.
func validTarget(uri string) bool {
	for i := 0; i < len(uri); i++ {
		if b := uri[i]; b <= ' ' || b == 0x7f || b == '#' {
			return false
		}
	}
	return true
}
