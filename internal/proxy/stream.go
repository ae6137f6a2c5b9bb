package proxy

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
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
func copyBody(w http.ResponseWriter, resp *http.Response, stream bool) (upErr, clientErr error) {
	var rc *http.ResponseController
	if stream {
		rc = http.NewResponseController(w)
		if err := rc.Flush(); err != nil { // headers now: a stream may idle before its first event
			rc = nil
		}
	}
	if resp.Body == http.NoBody {
		return nil, nil
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
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

func isEventStream(h http.Header) bool {
	ct := h["Content-Type"]
	return len(ct) > 0 && len(ct[0]) >= 17 && strings.EqualFold(ct[0][:17], "text/event-stream")
}

// announceTrailers declares the target's trailers before the header is
// written, so net/http sends them after the body.
func announceTrailers(h http.Header, trailer http.Header) {
	if len(trailer) == 0 {
		return
	}
	keys := make([]string, 0, len(trailer))
	for k := range trailer {
		keys = append(keys, k)
	}
	h["Trailer"] = []string{strings.Join(keys, ", ")}
}

// writeBody sends the request body after the head, then reports the
// outcome on done. It runs in its own goroutine so the response can be read
// while the body is still going out: a target may answer (413, 401) before
// reading it all. On failure it closes the connection so the target stops
// waiting for the rest.
func writeBody(c *upConn, r *http.Request, done chan<- error) {
	var err error
	if r.ContentLength > 0 {
		_, err = io.CopyN(c.bw, r.Body, r.ContentLength)
	} else {
		err = writeChunked(c.bw, r)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		c.Close()
	}
	done <- err
}

// writeChunked sends a body of unknown length with chunked encoding,
// flushing each chunk so that streamed uploads stream, then the trailers.
func writeChunked(bw *bufio.Writer, r *http.Request) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var hex [16]byte
	for {
		n, err := r.Body.Read(buf)
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
	for k, vs := range r.Trailer {
		for _, v := range vs {
			writeField(bw, k, v)
		}
	}
	_, err := bw.WriteString("\r\n")
	return err
}
