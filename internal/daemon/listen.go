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

// listenPublic returns the proxy's listener and, when httpsAddr is set,
// the HTTPS listener. A socket handed over by the process that started the
// daemon is used when there is one, so that a daemon restart or upgrade
// never closes a public port: while no daemon accepts, the kernel queues
// new connections on the inherited socket.
//
//   - systemd socket activation: LISTEN_PID is this process and LISTEN_FDS ≥ 1;
//     the proxy's socket is the one named "proxy" in LISTEN_FDNAMES, else the
//     first (fd 3) unless that one is named "https"; the HTTPS socket is the
//     one named "https".
//   - any other supervisor: HOTSWAP_PROXY_FD=N and HOTSWAP_HTTPS_FD=N name
//     inherited fds.
//
// Otherwise it binds the address. The variables are removed from the
// environment so the apps the daemon starts do not see them.
func listenPublic(proxyAddr, httpsAddr string) (proxy, https net.Listener, err error) {
	fds, err := inheritedFDs()
	if err != nil {
		return nil, nil, err
	}
	proxy, err = listenOrInherit(fds, "proxy", proxyAddr)
	if err != nil {
		return nil, nil, err
	}
	if httpsAddr == "" {
		return proxy, nil, nil
	}
	https, err = listenOrInherit(fds, "https", httpsAddr)
	if err != nil {
		proxy.Close()
		return nil, nil, err
	}
	return proxy, https, nil
}

func listenOrInherit(fds map[string]int, name, addr string) (net.Listener, error) {
	fd, ok := fds[name]
	if !ok {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s listen %s: %w", name, addr, err)
		}
		return ln, nil
	}
	f := os.NewFile(uintptr(fd), "hotswap-"+name)
	ln, err := net.FileListener(f) // dups the descriptor (close-on-exec)
	f.Close()                      // so apps started later do not inherit the original
	if err != nil {
		return nil, fmt.Errorf("inherited %s socket (fd %d): %w", name, fd, err)
	}
	return ln, nil
}

// inheritedFDs finds the handed-over sockets, by role ("proxy", "https").
func inheritedFDs() (map[string]int, error) {
	defer func() {
		for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "HOTSWAP_PROXY_FD", "HOTSWAP_HTTPS_FD"} {
			os.Unsetenv(k)
		}
	}()
	fds := map[string]int{}
	for role, env := range map[string]string{"proxy": "HOTSWAP_PROXY_FD", "https": "HOTSWAP_HTTPS_FD"} {
		if v := os.Getenv(env); v != "" {
			fd, err := strconv.Atoi(v)
			if err != nil || fd < 3 {
				return nil, fmt.Errorf("%s=%q: want an inherited descriptor number ≥ 3", env, v)
			}
			fds[role] = fd
		}
	}
	if len(fds) > 0 || os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return fds, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 1 {
		return fds, nil
	}
	const first = 3 // SD_LISTEN_FDS_START
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	for i, name := range names {
		if (name == "proxy" || name == "https") && i < n {
			fds[name] = first + i
		}
	}
	if _, ok := fds["proxy"]; !ok && names[0] != "https" {
		fds["proxy"] = first
	}
	return fds, nil
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
