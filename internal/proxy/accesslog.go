package proxy

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
	"unsafe"
)

// This file gives every request an id (X-Request-Id, passed to the app and
// returned to the client) and, when enabled, writes one JSON line per
// request to the access log.

const requestIDHeader = "X-Request-Id"

// requestID returns the client's X-Request-Id when it is a sane token (1 to
// 128 bytes of letters, digits and "-_.:+/="), else a new random one (128
// bits, hex). It is an identifier for correlating logs, not a secret. The
// result is the header's value slice, ready to be shared by the request's
// and the response's header maps; a new id costs one allocation.
func requestID(r *http.Request) []string {
	if vs := r.Header[requestIDHeader]; len(vs) == 1 && validRequestID(vs[0]) {
		return vs
	}
	// One allocation holds both the slice and the id's bytes; the bytes are
	// written here once and never again, which is what makes the string
	// view over them sound.
	id := new(struct {
		vs  [1]string
		hex [32]byte
	})
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		u := rand.Uint64()
		for j := range 8 {
			b[i+j] = byte(u >> (8 * j))
		}
	}
	hex.Encode(id.hex[:], b[:])
	id.vs[0] = unsafe.String(&id.hex[0], len(id.hex))
	return id.vs[:]
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}

// accessLog serialises access log lines onto one writer; mu guards enc.
type accessLog struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newAccessLog(w io.Writer) *accessLog {
	if w == nil {
		return nil
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &accessLog{enc: enc}
}

// accessEntry is one access log line.
type accessEntry struct {
	Time       string  `json:"time"`
	Host       string  `json:"host"`
	Method     string  `json:"method"`
	Path       string  `json:"path"`
	Status     int     `json:"status"`
	Bytes      int64   `json:"bytes"`
	DurationMS float64 `json:"duration_ms"`
	Service    string  `json:"service,omitempty"`
	Version    string  `json:"version,omitempty"`
	RequestID  string  `json:"request_id"`
	Remote     string  `json:"remote"`
}

// recorder wraps the client's ResponseWriter while the access log is on,
// noting the status, the body bytes and who served. Unwrap keeps
// http.ResponseController (flush, deadlines, hijack) working through it.
type recorder struct {
	http.ResponseWriter
	status           int
	bytes            int64
	service, version string
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// served notes the service and version that answered r, for the log.
func served(w http.ResponseWriter, t *Target) {
	if rec, ok := w.(*recorder); ok {
		rec.service, rec.version = t.svc.name, t.version
	}
}

func (l *accessLog) write(r *http.Request, rec *recorder, start time.Time, id string) {
	status := rec.status
	if status == 0 {
		status = 499 // the client went away before an answer (nginx's convention)
	}
	e := accessEntry{
		Time: start.UTC().Format(time.RFC3339Nano), Host: r.Host, Method: r.Method, Path: r.URL.Path,
		Status: status, Bytes: rec.bytes, DurationMS: float64(time.Since(start).Microseconds()) / 1000,
		Service: rec.service, Version: rec.version, RequestID: id, Remote: r.RemoteAddr,
	}
	l.mu.Lock()
	l.enc.Encode(&e) // a failing log must not fail the request
	l.mu.Unlock()
}
