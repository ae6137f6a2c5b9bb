package swarmtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// Node is one dockerd of the cluster, in its own network namespace.
type Node struct {
	// Name is the node's namespace name and hostname ("hst3-n2"); Swarm
	// reports it as the node's hostname, so errors that name a node are
	// readable.
	Name string
	// Addr is the node's address on the cluster network; host-mode
	// published ports of its tasks listen there.
	Addr string
	// Client talks to this node's daemon over its unix socket.
	Client *client.Client
	// ID is the node's Swarm node ID once it has joined.
	ID string

	index int
	dir   string
	cmd   *exec.Cmd
	log   *os.File
	// waited is closed once cmd.Wait returned (the daemon is gone and
	// reaped); waitErr is its result, readable after that.
	waited  chan struct{}
	waitErr error
}

// Socket is the unix socket path of the node's daemon.
func (n *Node) Socket() string { return filepath.Join(n.dir, "docker.sock") }

// Host is the DOCKER_HOST value that reaches the node's daemon.
func (n *Node) Host() string { return "unix://" + n.Socket() }

// startDaemon launches dockerd for node i inside its namespace (nsenter
// enters only the network namespace; unshare gives it its own hostname) and
// waits until it answers a ping. Each daemon has its own state, socket and
// cgroup parent under dir, ignores /etc/docker/daemon.json, uses vfs and no
// iptables, and keeps its bridges on the 10.213.200.0/21 range.
func startDaemon(ctx context.Context, n names, i int, dir string) (*Node, error) {
	node := &Node{Name: n.node(i), Addr: n.nodeAddr(i), index: i, dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node %s: %w", node.Name, err)
	}
	cfg := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o600); err != nil {
		return nil, fmt.Errorf("node %s: %w", node.Name, err)
	}
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node.Name, err)
	}
	node.log = log
	args := []string{
		"dockerd",
		"--config-file", cfg,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"-H", node.Host(),
		"--storage-driver", "vfs",
		"--iptables=false", "--ip6tables=false",
		"--bip", "10.213.200.1/24",
		"--default-address-pool", "base=10.213.201.0/24,size=26",
		"--cgroup-parent", n.prefix() + "-" + strconv.Itoa(i),
		"--shutdown-timeout", "2",
		"--log-level", "warn",
	}
	script := "hostname " + node.Name + " && exec " + strings.Join(args, " ")
	cmd := exec.Command("nsenter", "--net=/run/netns/"+n.node(i), "--",
		"unshare", "--uts", "--", "sh", "-c", script)
	cmd.Stdout, cmd.Stderr = log, log
	// SIGTERM on our death: the daemon shuts down (and stops its
	// containers) even when the test process is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("node %s: start dockerd: %w", node.Name, err)
	}
	node.cmd = cmd
	node.waited = make(chan struct{})
	go func() { node.waitErr = cmd.Wait(); close(node.waited) }()

	cli, err := client.New(client.WithHost(node.Host()), client.WithAPIVersionNegotiation())
	if err != nil {
		return node, fmt.Errorf("node %s: client: %w", node.Name, err)
	}
	node.Client = cli
	deadline := time.Now().Add(60 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true})
		cancel()
		if err == nil {
			return node, nil
		}
		select {
		case <-node.waited:
			return node, fmt.Errorf("node %s: dockerd exited (%v) before answering: %s", node.Name, node.waitErr, tail(log.Name(), 5))
		case <-ctx.Done():
			return node, fmt.Errorf("node %s: dockerd: %w", node.Name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return node, fmt.Errorf("node %s: dockerd did not answer within 60s: %v; log: %s", node.Name, err, tail(log.Name(), 5))
		}
	}
}

// Kill ends the node's daemon with SIGKILL, the way a crashed engine
// disappears: its containers keep running (the shims outlive it) but it no
// longer answers or reports to the swarm. Close still removes everything.
func (n *Node) Kill() error {
	if n.cmd == nil || n.cmd.Process == nil {
		return errors.New("node " + n.Name + ": no daemon to kill")
	}
	return n.cmd.Process.Kill()
}

// stop asks the daemon to shut down (SIGTERM: it stops its containers
// within --shutdown-timeout) and waits for it, killing it after grace.
func (n *Node) stop(grace time.Duration) {
	if n.Client != nil {
		n.Client.Close()
	}
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.waited:
		case <-time.After(grace):
			_ = n.cmd.Process.Kill()
			<-n.waited
		}
	}
	if n.log != nil {
		n.log.Close()
	}
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
