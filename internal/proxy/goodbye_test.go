package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeFrame writes one WebSocket frame; clients mask, servers do not.
func writeFrame(w io.Writer, opcode byte, payload []byte, mask bool) error {
	var hdr []byte
	hdr = append(hdr, 0x80|opcode)
	var m byte
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, m|byte(n))
	case n < 1<<16:
		hdr = append(hdr, m|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, m|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	p := payload
	if mask {
		key := [4]byte{1, 2, 3, 4}
		hdr = append(hdr, key[:]...)
		p = make([]byte, len(payload))
		for i := range payload {
			p[i] = payload[i] ^ key[i%4]
		}
	}
	_, err := w.Write(append(hdr, p...))
	return err
}

// readFrame reads one frame (unmasking a client's).
func readFrame(br *bufio.Reader) (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := int64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, err = io.ReadFull(br, b[:])
		n = int64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, err = io.ReadFull(br, b[:])
		n = int64(binary.BigEndian.Uint64(b[:]))
	}
	var key [4]byte
	if h[1]&0x80 != 0 {
		_, err = io.ReadFull(br, key[:])
	}
	if err != nil {
		return 0, nil, err
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(br, payload); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return h[0] & 0x0f, payload, nil
}

// wsFrameBackend speaks WebSocket frames: it greets with "<version>:
// hello", echoes text frames, answers "slow" with a 2000-byte frame sent
// in two halves (the second once resume is closed), and answers a close
// frame with a close frame and hangs up.
func wsFrameBackend(version string, resume chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, brw, ok := wsAccept(w, r)
		if !ok {
			return
		}
		defer conn.Close()
		writeFrame(brw, 1, []byte(version+": hello"), false)
		brw.Flush()
		for {
			op, p, err := readFrame(brw.Reader)
			if err != nil {
				return
			}
			switch {
			case op == 8:
				writeFrame(conn, 8, p[:min(2, len(p))], false)
				return
			case string(p) == "slow":
				frame := new(bytes.Buffer)
				writeFrame(frame, 1, bytes.Repeat([]byte("x"), 2000), false)
				b := frame.Bytes()
				conn.Write(b[:len(b)-1000])
				<-resume
				conn.Write(b[len(b)-1000:])
			default:
				writeFrame(conn, 1, append([]byte(version+": "), p...), false)
			}
		}
	}
}

// TestWebSocketGoodbyeAtDrainDeadline: a WebSocket client still on the old
// version when the drain deadline comes receives the frame in flight
// whole, then a close frame with code 1012 (service restart); it answers
// the close, the connection ends, and its reconnect reaches the new
// version.
func TestWebSocketGoodbyeAtDrainDeadline(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	resume := make(chan struct{})
	v1 := target(t, s, "v1", backend(t, "v1", wsFrameBackend("v1", resume)))
	s.Switch(v1)

	ws := dialWS(t, f, "example.com")
	ws.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if op, p, err := readFrame(ws.br); err != nil || op != 1 || string(p) != "v1: hello" {
		t.Fatalf("greeting: %d %q %v", op, p, err)
	}
	// The old version starts a frame and stalls in the middle of it.
	writeFrame(ws.conn, 1, []byte("slow"), true)
	first := make([]byte, 4+1000)
	if _, err := io.ReadFull(ws.br, first); err != nil {
		t.Fatal(err)
	}

	s.Switch(target(t, s, "v2", backend(t, "v2", wsFrameBackend("v2", nil))))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- v1.Drain(ctx) }()
	<-ctx.Done()
	close(resume) // the rest of the frame comes after the deadline

	rest := make([]byte, 1000)
	if n, err := io.ReadFull(ws.br, rest); err != nil || strings.Trim(string(rest), "x") != "" {
		t.Fatalf("the frame in flight was not delivered whole: %d of 1000 bytes, %v", n, err)
	}
	op, p, err := readFrame(ws.br)
	if err != nil || op != 8 || len(p) < 2 || binary.BigEndian.Uint16(p) != 1012 {
		t.Fatalf("after the frame: opcode %d payload %q err %v; want a close frame with code 1012", op, p, err)
	}
	writeFrame(ws.conn, 8, []byte{0x03, 0xf4}, true) // the client's answer
	if _, err := ws.br.ReadByte(); err == nil {
		t.Error("connection still open after the closing handshake")
	}
	if err := <-drained; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Drain = %v, want deadline exceeded", err)
	}
	if n := v1.InFlight(); n != 0 {
		t.Errorf("v1 in flight = %d", n)
	}

	again := dialWS(t, f, "example.com")
	again.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if op, p, err := readFrame(again.br); err != nil || op != 1 || string(p) != "v2: hello" {
		t.Fatalf("reconnect greeting: %d %q %v, want v2", op, p, err)
	}
}

// TestWSFrames feeds frames of every length encoding byte by byte and
// whole, and checks the boundaries found.
func TestWSFrames(t *testing.T) {
	var stream bytes.Buffer
	var ends []int
	for _, n := range []int{0, 5, 125, 126, 300, 70000} {
		writeFrame(&stream, 2, make([]byte, n), n%2 == 0)
		ends = append(ends, stream.Len())
	}
	b := stream.Bytes()
	var f wsFrames
	var got []int
	for i := range b {
		f.feed(b[i:i+1], false)
		if f.atBoundary() {
			got = append(got, i+1)
		}
	}
	if !slices.Equal(got, ends) {
		t.Errorf("byte by byte: boundaries %v, want %v", got, ends)
	}
	// With stop, feed halts at each boundary in turn.
	f, got = wsFrames{}, nil
	for off := 0; off < len(b); {
		k := f.feed(b[off:], true)
		if k == 0 {
			k = f.feed(b[off:off+1], false) // step past the boundary
		}
		off += k
		if f.atBoundary() {
			got = append(got, off)
		}
	}
	if !slices.Equal(got, ends) {
		t.Errorf("stopping: boundaries %v, want %v", got, ends)
	}
}
