package proxy

import (
	"net/http"
	"time"
)

// This file holds everything about the public side's timeouts, so that a
// change to how the public http.Server is built (TLS, HTTP/2) has one place
// to look. Header-read and idle timeouts are the server's own
// (ConfigureServer); the send timeout and the client body timeout are
// enforced here per write and per read, because a whole-request bound
// (http.Server's WriteTimeout and ReadTimeout) would cut legitimate long
// downloads, streams and uploads.

// ConfigureServer sets the client-side timeouts of the public server that
// serves p: ReadHeaderTimeout and IdleTimeout from p's Options. Its
// WriteTimeout and ReadTimeout must stay zero; p bounds each write and
// each body read itself (SendTimeout, ClientBodyTimeout).
func (p *Proxy) ConfigureServer(srv *http.Server) {
	srv.ReadHeaderTimeout = p.o().ReadHeaderTimeout
	srv.IdleTimeout = p.o().ClientIdleTimeout
	srv.WriteTimeout, srv.ReadTimeout = 0, 0
}

// sendDeadline keeps a write deadline on the client's connection while a
// response is written: armed when the request starts, so it also covers
// the headers, a small body and net/http's final flush, and pushed back
// during a long body or stream, at most once per tenth of the timeout.
// A client that does not read for SendTimeout is disconnected.
type sendDeadline struct {
	ctl http.ResponseController // held by value: arming allocates nothing
	on  bool                    // a deadline is in force
	d   time.Duration
	at  time.Time // when the deadline was last set
}

func (p *Proxy) armSend(s *sendDeadline, w http.ResponseWriter, now time.Time) {
	d := p.o().SendTimeout
	if d <= 0 {
		return
	}
	s.ctl = *http.NewResponseController(w)
	if s.ctl.SetWriteDeadline(now.Add(d)) == nil {
		s.on, s.d, s.at = true, d, now
	}
}

// touch pushes the deadline back before a write that may come long after
// the last one.
func (s *sendDeadline) touch() {
	if s.on {
		s.touchAt(time.Now())
	}
}

// touchAt is touch with the current time already at hand.
func (s *sendDeadline) touchAt(now time.Time) {
	if s.on && now.Sub(s.at) > s.d/10 {
		s.at = now
		s.ctl.SetWriteDeadline(now.Add(s.d))
	}
}
