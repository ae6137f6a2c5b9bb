package proxy

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// This file says goodbye to long-lived connections at a drain deadline
// instead of cutting them: a WebSocket gets a close frame with code 1012
// ("service restart") on a frame boundary, and an event stream ends
// cleanly between two events, so their clients reconnect at once — to the
// version that is live by then.

// goodbyeGrace is how long Drain waits, after saying goodbye, for the
// connections to end before it closes what remains.
const goodbyeGrace = time.Second

// goodbyer is a long-lived exchange that can end itself cleanly. goodbye
// may block briefly (at most goodbyeGrace) on a slow client.
type goodbyer interface{ goodbye() }

// sayGoodbye asks every long-lived exchange of the target to end and
// reports how many were asked.
func (t *Target) sayGoodbye() int {
	t.mu.Lock()
	all := make([]goodbyer, 0, len(t.longLived))
	for g := range t.longLived {
		all = append(all, g)
	}
	t.mu.Unlock()
	for _, g := range all {
		go g.goodbye() // each ends within goodbyeGrace; one slow client must not hold up the rest
	}
	return len(all)
}

// trackLong and untrackLong keep the set sayGoodbye walks.
func (t *Target) trackLong(g goodbyer) {
	t.mu.Lock()
	t.longLived[g] = struct{}{}
	t.mu.Unlock()
}

func (t *Target) untrackLong(g goodbyer) {
	t.mu.Lock()
	delete(t.longLived, g)
	t.mu.Unlock()
}

// wsRelay copies a WebSocket's server-to-client bytes while following its
// frames, so that a close frame can be inserted between two frames.
// mu guards frames, bye and closed, and serialises writes to the client.
type wsRelay struct {
	client net.Conn

	mu     sync.Mutex
	frames wsFrames
	bye    bool // goodbye asked: send the close frame at the next boundary
	closed bool // close frame sent: forward nothing more to the client
}

// closeRestart is a server's close frame: FIN + opcode 8, unmasked, code
// 1012 "service restart" (RFC 6455 §7.4, IANA registry).
var closeRestart = func() []byte {
	reason := "service restart"
	b := []byte{0x88, byte(2 + len(reason)), 0, 0}
	binary.BigEndian.PutUint16(b[2:], 1012)
	return append(b, reason...)
}()

// pump copies the target's frames to the client until the target's side
// ends or the close frame was sent.
func (ws *wsRelay) pump(src *bufio.Reader) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 && !ws.relay(buf[:n]) {
			return
		}
		if err != nil {
			return
		}
	}
}

// relay forwards b, or its part up to the first frame boundary once a
// goodbye was asked, followed by the close frame. It returns false when
// nothing more may be forwarded.
func (ws *wsRelay) relay(b []byte) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		return false
	}
	k := ws.frames.feed(b, ws.bye)
	if _, err := ws.client.Write(b[:k]); err != nil {
		return false
	}
	if ws.bye && ws.frames.atBoundary() {
		ws.sendCloseLocked()
		return false
	}
	return true
}

// goodbye sends the close frame now if the stream is between frames, or
// makes relay send it after the current frame.
func (ws *wsRelay) goodbye() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.bye || ws.closed {
		return
	}
	ws.bye = true
	if ws.frames.atBoundary() {
		ws.sendCloseLocked()
	}
}

// sendCloseLocked writes the close frame. The client answers with its own
// close frame, which still travels to the target; the target's answer to
// that ends the connection.
func (ws *wsRelay) sendCloseLocked() {
	ws.closed = true
	ws.client.SetWriteDeadline(time.Now().Add(goodbyeGrace))
	ws.client.Write(closeRestart)
}

// wsFrames follows WebSocket frame boundaries (RFC 6455 §5.2) in one
// direction of a connection.
type wsFrames struct {
	hdr  [14]byte
	have int   // header bytes collected of the next frame
	need int   // header bytes that frame has, once known
	left int64 // payload bytes still to come of the current frame
}

func (f *wsFrames) atBoundary() bool { return f.have == 0 && f.left == 0 }

// feed consumes b and returns how many bytes it took: all of them, or
// with stop, only up to the first frame boundary (0 if already on one).
func (f *wsFrames) feed(b []byte, stop bool) int {
	i := 0
	for i < len(b) {
		if stop && f.atBoundary() {
			return i
		}
		if f.left > 0 {
			k := min(int64(len(b)-i), f.left)
			i += int(k)
			f.left -= k
			continue
		}
		f.hdr[f.have] = b[i]
		f.have++
		i++
		if f.have == 2 {
			f.need = 2
			switch f.hdr[1] & 0x7f {
			case 126:
				f.need += 2
			case 127:
				f.need += 8
			}
			if f.hdr[1]&0x80 != 0 {
				f.need += 4 // masking key
			}
		}
		if f.have < 2 || f.have < f.need {
			continue
		}
		var n int64
		switch l := f.hdr[1] & 0x7f; l {
		case 126:
			n = int64(binary.BigEndian.Uint16(f.hdr[2:4]))
		case 127:
			n = int64(binary.BigEndian.Uint64(f.hdr[2:10]) & (1<<63 - 1))
		default:
			n = int64(l)
		}
		f.have, f.left = 0, n
	}
	return i
}

// streamEnd lets a drain end an event stream between two events: the
// copy loop records whether what it relayed so far ends an event, and a
// goodbye either closes the target's side at once (between events) or
// makes the copy loop stop after the current event. Either way forward
// ends the response cleanly (a final empty chunk), not as a broken one.
type streamEnd struct {
	c        io.Closer
	bye      atomic.Bool
	boundary atomic.Bool
	last     [2]byte // the last two bytes relayed; copy loop only
}

func (s *streamEnd) goodbye() {
	s.bye.Store(true)
	if s.boundary.Load() {
		s.c.Close()
	}
}

// relayed notes bytes written to the client and reports whether the
// stream should stop now.
func (s *streamEnd) relayed(b []byte) bool {
	if len(b) >= 2 {
		s.last = [2]byte{b[len(b)-2], b[len(b)-1]}
	} else if len(b) == 1 {
		s.last = [2]byte{s.last[1], b[0]}
	}
	at := s.last == [2]byte{'\n', '\n'} || s.last == [2]byte{'\r', '\r'} || (s.last[1] == '\n' && len(b) >= 4 && string(b[len(b)-4:]) == "\r\n\r\n")
	s.boundary.Store(at)
	return at && s.bye.Load()
}
