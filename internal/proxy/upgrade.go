package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// serveUpgrade completes a protocol upgrade (WebSocket) the target agreed
// to: it hands the target's 101 to the client on the hijacked connection
// and copies bytes both ways until either side closes. The request keeps
// the target in flight all along, so Drain waits for the connection, and
// both sockets are tracked so a drain deadline can close them.
func (t *Target) serveUpgrade(w http.ResponseWriter, r *http.Request, c *upConn, head *respHead,
	asked string, o *serviceConfig, stick int, latency time.Duration) {
	got := head.upgrade
	if asked == "" || !strings.EqualFold(got, asked) {
		c.Close()
		t.fail(w, r, fmt.Errorf("target switched to protocol %q, client asked for %q", got, asked), false)
		return
	}
	cc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		c.Close()
		t.fail(w, r, fmt.Errorf("hijack client connection for upgrade: %w", err), false)
		return
	}
	if !t.track(cc) { // the target is being shut down
		cc.Close()
		c.Close()
		return
	}
	defer t.untrack(cc)
	// The send deadline armed for the request does not apply to the
	// connection's new protocol, which may idle for hours.
	cc.SetWriteDeadline(time.Time{})
	t.stats.record(head.status, latency)

	bw := brw.Writer
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n")
	writeField(bw, "Upgrade", got)
	for k, vs := range head.header101 {
		for _, v := range vs {
			writeField(bw, k, v)
		}
	}
	if o.VersionHeader {
		writeField(bw, "X-Hotswap-Version", t.version)
	}
	if stick >= 0 {
		writeField(bw, "Set-Cookie", stickyCookie(o.StickyCookie, stick))
	}
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		cc.Close()
		c.Close()
		return
	}

	// Either direction ending ends the connection: close both sockets,
	// which unblocks the other copy, then wait for it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(c.Conn, brw.Reader) // client → target, including bytes the server buffered
		c.Close()
		cc.Close()
	}()
	if strings.EqualFold(got, "websocket") {
		// Followed frame by frame, so a drain can say goodbye.
		ws := &wsRelay{client: cc}
		t.trackLong(ws)
		ws.pump(c.br) // target → client, including bytes read with the 101
		t.untrackLong(ws)
	} else {
		io.Copy(cc, c.br)
	}
	c.Close()
	cc.Close()
	<-done
}
