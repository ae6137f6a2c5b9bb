package proxy

import (
	"bufio"
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
// It returns the first read error from the target or write error to the
// client; a clean end of body returns nil, nil.
func copyBody(w http.ResponseWriter, body *bodyReader, stream bool) (upErr, clientErr error) {
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
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil, werr
			}
			if rc != nil {
				if ferr := rc.Flush(); ferr != nil {
					return nil, ferr
				}
			}
		}
		switch err {
		case nil:
		case io.EOF:
			return nil, nil
		default:
			return err, nil
		}
	}
}

// writeBody sends the request body after the head. Large and chunked
// bodies are sent from their own goroutine so that the response can be read
// meanwhile: a target may answer (413, 401) before reading it all. On
// failure it closes the connection so the target stops waiting for the
// rest; a failure to read the client's body is marked by clientError.
func writeBody(c *upConn, r *http.Request) error {
	body := clientBody{r.Body}
	var err error
	if r.ContentLength > 0 {
		_, err = io.CopyN(c.bw, body, r.ContentLength)
	} else {
		err = writeChunked(c.bw, body, r.Trailer)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		c.Close()
	}
	return err
}

// clientBody marks errors reading the client's request body, so they are
// not blamed on the target.
type clientBody struct{ r io.Reader }

type clientError struct{ err error }

func (e *clientError) Error() string { return "read request body: " + e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

func (b clientBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &clientError{err}
	}
	return n, err
}

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
