package api

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"

	"golang.org/x/sys/unix"
)

// peerKey carries the peer credentials of a control-socket connection.
const peerKey ctxKey = 2

// peer is who is at the other end of a unix socket connection, as the
// kernel says (SO_PEERCRED): it cannot be forged by the client.
type peer struct {
	uid uint32
	pid int32
}

// PeerConnContext is the control socket server's ConnContext: it records
// the connecting process's credentials, so LocalHandler can name the
// actor by the kernel's word rather than the client's.
func PeerConnContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return ctx
	}
	return context.WithValue(ctx, peerKey, peer{uid: cred.Uid, pid: cred.Pid})
}

// localActor is the actor recorded for a request on the control socket.
// A peer that is root or the daemon's own user may name the person
// (X-Hotswap-Actor: the CLI sends SUDO_USER under sudo, else its user);
// any other peer is recorded as its own user name, whatever it claims.
func localActor(r *http.Request) string {
	claimed := r.Header.Get("X-Hotswap-Actor")
	if claimed == "" || len(claimed) > 64 {
		claimed = ""
	}
	p, ok := r.Context().Value(peerKey).(peer)
	if !ok {
		if claimed == "" {
			return "local"
		}
		return claimed
	}
	if (p.uid == 0 || int(p.uid) == os.Getuid()) && claimed != "" {
		return claimed
	}
	uid := strconv.FormatUint(uint64(p.uid), 10)
	if u, err := user.LookupId(uid); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid " + uid
}
