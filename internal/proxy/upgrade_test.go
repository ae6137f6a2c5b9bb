package proxy

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wsBackend completes a WebSocket handshake, then echoes each line it
// receives prefixed with its version. Framing is irrelevant to the proxy,
// which copies bytes; lines keep the test readable.
func wsBackend(version string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			io.WriteString(w, version+"\n")
			return
		}
		conn, brw, ok := wsAccept(w, r)
		if !ok {
			return
		}
		defer conn.Close()
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString(version + ": " + line)
			brw.Flush()
		}
	}
}

// wsAccept completes a WebSocket handshake on the backend side: it hijacks
// the connection and buffers the 101 (the caller flushes it).
func wsAccept(w http.ResponseWriter, r *http.Request) (net.Conn, *bufio.ReadWriter, bool) {
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, false
	}
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
	return conn, brw, true
}

// wsClient is the client end of an upgraded connection through the proxy.
type wsClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialWS(t *testing.T, f *front, host string) *wsClient {
	t.Helper()
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: "+host+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake status %d, want 101", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("Sec-WebSocket-Accept = %q", got)
	}
	return &wsClient{conn: conn, br: br}
}

func (c *wsClient) echo(t *testing.T, msg string) string {
	t.Helper()
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, msg+"\n"); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	line, err := c.br.ReadString('\n')
	if err != nil {
		t.Fatalf("read echo of %q: %v", msg, err)
	}
	return strings.TrimSuffix(line, "\n")
}

// TestWebSocketSurvivesSwitch: an upgraded connection stays on its version
// after a switch, keeps the version in flight, and Drain returns once the
// client closes it.
func TestWebSocketSurvivesSwitch(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	v1 := target(t, s, "v1", backend(t, "v1", wsBackend("v1")))
	s.Switch(v1)

	ws := dialWS(t, f, "example.com")
	if got := ws.echo(t, "hello"); got != "v1: hello" {
		t.Fatalf("echo = %q", got)
	}
	s.Switch(target(t, s, "v2", backend(t, "v2", wsBackend("v2"))))
	drained := make(chan error, 1)
	go func() { drained <- v1.Drain(context.Background()) }()

	if got := ws.echo(t, "still there?"); got != "v1: still there?" {
		t.Fatalf("echo after switch = %q", got)
	}
	if code, body := f.get(t, "example.com", "/"); code != 200 || body != "v2\n" {
		t.Fatalf("plain request after switch = %d %q, want v2", code, body)
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned (%v) while the WebSocket was open", err)
	default:
	}
	if n := v1.InFlight(); n != 1 {
		t.Fatalf("v1 in flight = %d, want 1 (the WebSocket)", n)
	}

	ws.conn.Close()
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("Drain: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Drain did not return after the WebSocket closed")
	}
}

// TestWebSocketClosedAtDrainDeadline: a WebSocket that outlives the drain
// deadline is closed on both sides.
func TestWebSocketClosedAtDrainDeadline(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	v1 := target(t, s, "v1", backend(t, "v1", wsBackend("v1")))
	s.Switch(v1)
	ws := dialWS(t, f, "example.com")
	if got := ws.echo(t, "hi"); got != "v1: hi" {
		t.Fatalf("echo = %q", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := v1.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain = %v, want deadline exceeded", err)
	}
	ws.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := ws.br.ReadByte(); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client read after forced drain: %v, want the connection closed", err)
	}
	if n := v1.InFlight(); n != 0 {
		t.Fatalf("in flight = %d after forced drain", n)
	}
}
