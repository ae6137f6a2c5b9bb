//go:build linux || darwin || freebsd || netbsd || openbsd

package proxy

import (
	"errors"
	"syscall"
)

// connAlive peeks at an idle pooled connection without blocking: a
// keep-alive connection the target closed reads as EOF, and one that holds
// unsolicited bytes is out of step. Either way it must not carry a request.
func connAlive(c *upConn) bool {
	if c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Only "would block" means alive: 0 bytes is EOF, >0 is unsolicited.
		alive = rerr != nil && (errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK) || errors.Is(rerr, syscall.EINTR))
		return true // never wait for readability: this is a probe
	})
	return err == nil && alive
}
