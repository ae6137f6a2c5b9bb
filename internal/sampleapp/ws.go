package sampleapp

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
)

// wsGUID is RFC 6455's key suffix for Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// WebSocketAccept is the Sec-WebSocket-Accept value for a client's key.
func WebSocketAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// serveWebSocket is a minimal RFC 6455 echo server: each text or binary
// frame the client sends (masked, unfragmented, up to 64 KiB) comes back
// unmasked with "<version> " in front; a close frame ends the connection.
// It exists so tests can hold a real WebSocket through the proxy.
func serveWebSocket(w http.ResponseWriter, r *http.Request, version string) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("Sec-WebSocket-Key") == "" {
		http.Error(w, "want a WebSocket upgrade", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
	brw.WriteString("X-Version: " + version + "\r\n")
	brw.WriteString("Sec-WebSocket-Accept: " + WebSocketAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n")
	if brw.Flush() != nil {
		return
	}
	for {
		op, payload, err := ReadFrame(brw.Reader)
		if err != nil || op == 0x8 {
			return
		}
		if WriteFrame(brw.Writer, op, append([]byte(version+" "), payload...), nil) != nil || brw.Flush() != nil {
			return
		}
	}
}

// ReadFrame reads one unfragmented WebSocket frame, unmasking it.
func ReadFrame(br *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	op = h[0] & 0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		return 0, nil, io.ErrUnexpectedEOF // larger than this echo server takes
	}
	var mask [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(br, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return op, payload, nil
}

// WriteFrame writes one final frame of opcode op (1 text, 2 binary, 8
// close), masked with mask when it is not nil (clients must mask).
func WriteFrame(bw *bufio.Writer, op byte, payload []byte, mask []byte) error {
	bw.WriteByte(0x80 | op)
	var m byte
	if mask != nil {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		bw.WriteByte(m | byte(n))
	default:
		bw.WriteByte(m | 126)
		var b [2]byte
		binary.BigEndian.PutUint16(b[:], uint16(n))
		bw.Write(b[:])
	}
	if mask != nil {
		bw.Write(mask[:4])
		for i, c := range payload {
			bw.WriteByte(c ^ mask[i%4])
		}
		return nil
	}
	_, err := bw.Write(payload)
	return err
}
