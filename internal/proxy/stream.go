package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// bufPool recycles the 32 KiB buffers that bodies are copied through, so a
// busy proxy does not allocate one per request.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody streams the target's response body to the client. Streams (no
// length known, or text/event-stream) are flushed after every read so that
// events reach the client at once; other bodies ride net/http's buffering.
// Each write may wait for the client at most SendTimeout (send). An event
// stream given end stops cleanly between two events after a goodbye. It
// returns the first read error from the target or write error to the
// client; a clean end of body returns nil, nil.
func copyBody(w http.ResponseWriter, body *bodyReader, stream bool, send *sendDeadline, end *streamEnd) (upErr, clientErr error) {
	var rc *http.ResponseController
	if stream {
		rc = http.NewResponseController(w)
		if err := rc.Flush(); err != nil { // headers now: a stream may idle before its first event
			rc = nil
		}
	}
	if body.mode == bodyNone {
		return nil, nil
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := body.Read(buf)
		if n > 0 {
			send.touch()
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil, werr
			}
			if rc != nil {
				if ferr := rc.Flush(); ferr != nil {
					return nil, ferr
				}
			}
			if end != nil && end.relayed(buf[:n]) {
				return nil, nil // goodbye, between two events
			}
		}
		switch {
		case err == nil:
		case err == io.EOF:
			return nil, nil
		case end != nil && end.bye.Load() && end.boundary.Load():
			return nil, nil // goodbye closed the target's side between two events
		default:
			return err, nil
		}
	}
}

// writeBody sends the request body after the head. A body that streams
// from the client is sent from its own goroutine so that the response can
// be read meanwhile: a target may answer (413, 401) before reading it all.
// On failure it closes the connection so the target stops waiting for the
// rest; a failure to read the client's body (a clientError) is first
// marked on the connection, so forward blames the client, not the target.
func writeBody(c *upConn, b *reqBody, trailer http.Header) error {
	var err error
	if b.length > 0 {
		c.bw.Write(b.buf)
		if b.rest != nil {
			_, err = io.CopyN(c.bw, b.rest, b.length-int64(len(b.buf)))
		}
	} else {
		var rd io.Reader = bytes.NewReader(b.buf)
		if b.rest != nil {
			rd = io.MultiReader(rd, b.rest)
		}
		err = writeChunked(c.bw, rd, trailer)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		if isClientError(err) {
			c.clientFailed.Store(true)
		}
		c.Close()
	}
	return err
}

// clientError marks an error reading the client's request body, so it is
// not blamed on the target.
type clientError struct{ err error }

func (e *clientError) Error() string { return "read request body: " + e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

func isClientError(err error) bool {
	var ce *clientError
	return errors.As(err, &ce)
}

// writeChunked sends a body of unknown length with chunked encoding,
// flushing each chunk so that streamed uploads stream, then the trailers.
func writeChunked(bw *bufio.Writer, body io.Reader, trailer http.Header) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var hex [16]byte
	for {
		n, err := body.Read(buf)
		if n > 0 {
			bw.Write(strconv.AppendInt(hex[:0], int64(n), 16))
			bw.WriteString("\r\n")
			bw.Write(buf[:n])
			bw.WriteString("\r\n")
			if ferr := bw.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	bw.WriteString("0\r\n")
	for k, vs := range trailer {
		for _, v := range vs {
			writeField(bw, k, v)
		}
	}
	_, err := bw.WriteString("\r\n")
	return err
}
