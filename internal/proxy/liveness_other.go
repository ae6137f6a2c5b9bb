//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package proxy

// peeker is unused where a socket cannot be peeked portably.
type peeker struct{}

func (c *upConn) initPeek() {}

// connAlive cannot peek portably here; a stale connection is instead caught
// by the retry on an empty reply (see forward.go).
func connAlive(c *upConn) bool { return c.br.Buffered() == 0 }
