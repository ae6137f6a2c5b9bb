//go:build linux || darwin || freebsd || netbsd || openbsd

package proxy

import (
	"errors"
	"syscall"
)

// peeker probes a pooled connection for bytes or a close without reading
// them. Built once per connection (the raw connection and the probe
// function), so a probe costs one non-blocking recv and no allocation.
type peeker struct {
	rc    syscall.RawConn
	probe func(fd uintptr) bool
	alive bool
	buf   [1]byte
}

// initPeek prepares c for connAlive; connections that are not sockets are
// never probed (and never reused, see connAlive).
func (c *upConn) initPeek() {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p := &peeker{rc: rc}
	p.probe = func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Only "would block" means alive: 0 bytes is EOF, >0 is unsolicited.
		p.alive = err != nil && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR))
		return true // never wait for readability: this is a probe
	}
	c.peek = p
}

// connAlive peeks at an idle pooled connection without blocking: a
// keep-alive connection the target closed reads as EOF, and one that holds
// unsolicited bytes is out of step. Either way it must not carry a request.
func connAlive(c *upConn) bool {
	if c.br.Buffered() > 0 || c.peek == nil {
		return false
	}
	p := c.peek
	p.alive = false
	return p.rc.Read(p.probe) == nil && p.alive
}
