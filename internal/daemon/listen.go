package daemon

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// listenProxy returns the proxy's listener. A socket handed over by the
// process that started the daemon is used when there is one, so that a
// daemon restart or upgrade never closes the public port: while no daemon
// accepts, the kernel queues new connections on the inherited socket.
//
//   - systemd socket activation: LISTEN_PID is this process and LISTEN_FDS ≥ 1;
//     the socket named "proxy" in LISTEN_FDNAMES, else the first (fd 3).
//   - any other supervisor: HOTSWAP_PROXY_FD=N names an inherited fd.
//
// Otherwise it binds addr. The variables are removed from the environment
// so the apps the daemon starts do not see them.
func listenProxy(addr string) (net.Listener, error) {
	fd, name, err := inheritedFD()
	if err != nil {
		return nil, err
	}
	if fd < 0 {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("proxy listen %s: %w", addr, err)
		}
		return ln, nil
	}
	f := os.NewFile(uintptr(fd), name)
	ln, err := net.FileListener(f) // dups the descriptor (close-on-exec)
	f.Close()                      // so apps started later do not inherit the original
	if err != nil {
		return nil, fmt.Errorf("inherited proxy socket (fd %d): %w", fd, err)
	}
	return ln, nil
}

// inheritedFD finds a handed-over socket; -1 when there is none.
func inheritedFD() (int, string, error) {
	defer func() {
		for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "HOTSWAP_PROXY_FD"} {
			os.Unsetenv(k)
		}
	}()
	if v := os.Getenv("HOTSWAP_PROXY_FD"); v != "" {
		fd, err := strconv.Atoi(v)
		if err != nil || fd < 3 {
			return -1, "", fmt.Errorf("HOTSWAP_PROXY_FD=%q: want an inherited descriptor number ≥ 3", v)
		}
		return fd, "hotswap-proxy", nil
	}
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return -1, "", nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 1 {
		return -1, "", nil
	}
	const first = 3 // SD_LISTEN_FDS_START
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	for i, name := range names {
		if name == "proxy" && i < n {
			return first + i, name, nil
		}
	}
	return first, "systemd-socket", nil
}

// socketGroup opens the control socket to the members of group (a name or
// a numeric ID): the socket gets that group and mode 0660, and its
// directory, when it is the daemon's own (0700), the group and 0710 so the
// members can reach the socket without listing or reading anything else.
func socketGroup(path, group string) error {
	gid, err := strconv.Atoi(group)
	if err != nil {
		g, lerr := user.LookupGroup(group)
		if lerr != nil {
			return fmt.Errorf("control.socket_group %q: %w", group, lerr)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	if err := os.Chown(path, -1, gid); err != nil {
		return fmt.Errorf("control socket %s: group %s: %w", path, group, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm() == 0o700 {
		if err := os.Chown(dir, -1, gid); err != nil {
			return fmt.Errorf("control socket directory %s: group %s: %w", dir, group, err)
		}
		if err := os.Chmod(dir, 0o710); err != nil {
			return fmt.Errorf("control socket directory %s: %w", dir, err)
		}
	}
	return nil
}
