package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/hotswap/hotswap/internal/sampleapp"
)

// websocket opens one WebSocket to the sample app's /ws through the proxy
// (over TLS with ALPN http/1.1 for https URLs), sends wsMessages messages
// 50ms apart, checks each echo, and closes it. Any failure before its own
// close counts.
func (c *counter) websocket(ctx context.Context, o Options) {
	const wsMessages = 10
	u, err := url.Parse(o.URL)
	if err != nil {
		c.fail("websocket: %v", err)
		return
	}
	sent := time.Now()
	// The same bound as an HTTP request's (30s), handshake included: while a
	// daemon restarts, connections wait in the kernel's accept queue.
	d := &net.Dialer{Timeout: 30 * time.Second}
	var conn net.Conn
	if u.Scheme == "https" {
		conf := o.TLS.Clone()
		conf.NextProtos = []string{"http/1.1"} // RFC 6455 upgrades are HTTP/1.1 only
		conn, err = tls.DialWithDialer(d, "tcp", u.Host, conf)
	} else {
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	}
	if err != nil {
		if ctx.Err() == nil {
			c.requests.Add(1)
			c.fail("websocket dial: %v", err)
		}
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var keyb [16]byte
	rand.Read(keyb[:])
	key := base64.StdEncoding.EncodeToString(keyb[:])
	br, bw := bufio.NewReader(conn), bufio.NewWriter(conn)
	fmt.Fprintf(bw, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", o.Host, key)
	if err := bw.Flush(); err != nil {
		c.wsFail(ctx, "websocket handshake: %v", err)
		return
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.wsFail(ctx, "websocket handshake: %v", err)
		return
	}
	c.requests.Add(1)
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != sampleapp.WebSocketAccept(key) {
		c.fail("websocket handshake: %s (accept %q)", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
		return
	}
	version := resp.Header.Get("X-Version")
	mask := []byte{1, 2, 3, 4}
	for i := 0; i < wsMessages; i++ {
		msg := []byte(fmt.Sprintf("message %d", i))
		if err := sampleapp.WriteFrame(bw, 1, msg, mask); err != nil || bw.Flush() != nil {
			c.wsFail(ctx, "websocket %s: send %d: %v", version, i, err)
			return
		}
		_, echo, err := sampleapp.ReadFrame(br)
		if err != nil {
			c.wsFail(ctx, "websocket %s: echo %d: %v", version, i, err)
			return
		}
		if !bytes.Equal(echo, append([]byte(version+" "), msg...)) {
			c.fail("websocket %s: echo %q for %q", version, echo, msg)
			return
		}
		c.wsMsgs.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	sampleapp.WriteFrame(bw, 8, nil, mask)
	bw.Flush()
	c.saw(o, version, sent)
}

// wsFail counts a WebSocket failure unless the run itself is ending.
func (c *counter) wsFail(ctx context.Context, format string, a ...any) {
	if ctx.Err() != nil {
		return
	}
	c.fail(format, a...)
}
