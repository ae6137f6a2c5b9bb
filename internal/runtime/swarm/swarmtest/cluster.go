package swarmtest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// ErrUnavailable: this machine cannot build a test cluster (not root, or
// ip/nsenter/unshare/dockerd missing, or network namespaces refused).
// Tests skip on it, saying which.
var ErrUnavailable = errors.New("swarm test cluster unavailable")

// Root is the directory every cluster's state lives under, fixed so that a
// later run finds what a killed one left.
const Root = "/tmp/hotswap-swarmtest"

// maxClusters bounds the cluster numbers tried (k in 1..maxClusters-1).
const maxClusters = 100

// Cluster is a running Swarm of Nodes. Nodes[0] is the manager (the node
// that ran swarm init); the others joined as workers.
type Cluster struct {
	Nodes []*Node
	// HostAddr is the host namespace's address on the cluster network
	// (10.213.k.1): the address nodes see the test process as.
	HostAddr string

	names names
	dir   string
	lock  *os.File
}

// Options shape a cluster.
type Options struct {
	// Nodes is the number of daemons, 1 to 9. Default 2.
	Nodes int
}

// Start builds a cluster: it takes a free cluster number, removes anything
// stale under it, creates the namespaces and links, starts one dockerd per
// node, initialises the swarm on the first and joins the others, and waits
// until every node is Ready. On any failure it removes everything it
// created before returning the error; ErrUnavailable (wrapped, saying why)
// when the machine cannot do it at all.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Nodes == 0 {
		opts.Nodes = 2
	}
	if opts.Nodes < 1 || opts.Nodes > 9 {
		return nil, fmt.Errorf("swarmtest: %d nodes: want 1 to 9", opts.Nodes)
	}
	if err := available(ctx); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(Root, 0o700); err != nil {
		return nil, fmt.Errorf("swarmtest: %w", err)
	}
	c, err = claim()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if cerr := c.Close(); cerr != nil {
				err = fmt.Errorf("%w (and cleanup: %v)", err, cerr)
			}
			c = nil
		}
	}()
	if err := removeAll(ctx, c.names, c.dir); err != nil {
		return c, fmt.Errorf("swarmtest: remove stale cluster %s: %w", c.names.prefix(), err)
	}
	if err := buildHub(ctx, c.names); err != nil {
		return c, fmt.Errorf("swarmtest: %w", err)
	}
	for i := 1; i <= opts.Nodes; i++ {
		if err := buildNode(ctx, c.names, i); err != nil {
			return c, fmt.Errorf("swarmtest: %w", err)
		}
	}
	// Daemons start in parallel: each takes seconds.
	nodes := make([]*Node, opts.Nodes)
	errs := make([]error, opts.Nodes)
	done := make(chan int, opts.Nodes)
	for i := range nodes {
		go func() {
			nodes[i], errs[i] = startDaemon(ctx, c.names, i+1, filepath.Join(c.dir, fmt.Sprintf("n%d", i+1)))
			done <- i
		}()
	}
	for range nodes {
		<-done
	}
	for _, n := range nodes {
		if n != nil {
			c.Nodes = append(c.Nodes, n)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("swarmtest: %w", err)
	}
	if err := c.formSwarm(ctx); err != nil {
		return c, fmt.Errorf("swarmtest: %w", err)
	}
	return c, nil
}

// New starts a cluster for t (or fails it) and closes it when t ends. It
// skips t, saying why, only when the machine cannot build one.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("swarmtest: close: %v", err)
		}
	})
	return c
}

// available says why a cluster cannot be built here, or nil.
func available(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (network namespaces, dockerd)", ErrUnavailable)
	}
	for _, bin := range []string{"ip", "nsenter", "unshare", "dockerd"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%w: %s not installed", ErrUnavailable, bin)
		}
	}
	if err := exec.CommandContext(ctx, "ip", "netns", "list").Run(); err != nil {
		return fmt.Errorf("%w: ip netns: %v", ErrUnavailable, err)
	}
	return nil
}

// claim takes the first cluster number whose lock file nobody holds. The
// flock lives as long as the returned file is open (or the process).
func claim() (*Cluster, error) {
	for k := 1; k < maxClusters; k++ {
		n := names{k: k}
		f, err := os.OpenFile(filepath.Join(Root, n.prefix()+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("swarmtest: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		return &Cluster{names: n, dir: filepath.Join(Root, n.prefix()), lock: f, HostAddr: n.hostAddr()}, nil
	}
	return nil, fmt.Errorf("swarmtest: all %d cluster numbers are in use", maxClusters-1)
}

// formSwarm initialises the swarm on the first node and joins the others as
// workers, then waits until the manager sees every node Ready. Swarm's
// overlay address pool is kept inside 10.213.224.0/20 (it is only ever
// used inside the nodes' namespaces).
func (c *Cluster) formSwarm(ctx context.Context) error {
	mgr := c.Nodes[0]
	res, err := mgr.Client.SwarmInit(ctx, client.SwarmInitOptions{
		ListenAddr:      mgr.Addr + ":2377",
		AdvertiseAddr:   mgr.Addr,
		DefaultAddrPool: []netip.Prefix{netip.MustParsePrefix("10.213.224.0/20")},
		SubnetSize:      24,
		Spec: swarm.Spec{
			// Keep few dead tasks per slot: tests read task lists.
			Orchestration: swarm.OrchestrationConfig{TaskHistoryRetentionLimit: ptr[int64](2)},
			Dispatcher:    swarm.DispatcherConfig{HeartbeatPeriod: 2 * time.Second},
		},
	})
	if err != nil {
		return fmt.Errorf("swarm init on %s: %w", mgr.Name, err)
	}
	mgr.ID = res.NodeID
	info, err := mgr.Client.SwarmInspect(ctx, client.SwarmInspectOptions{})
	if err != nil {
		return fmt.Errorf("swarm inspect on %s: %w", mgr.Name, err)
	}
	for _, n := range c.Nodes[1:] {
		if _, err := n.Client.SwarmJoin(ctx, client.SwarmJoinOptions{
			ListenAddr:    n.Addr + ":2377",
			AdvertiseAddr: n.Addr,
			RemoteAddrs:   []string{mgr.Addr + ":2377"},
			JoinToken:     info.Swarm.JoinTokens.Worker,
		}); err != nil {
			return fmt.Errorf("swarm join of %s: %w", n.Name, err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, err := mgr.Client.NodeList(ctx, client.NodeListOptions{})
		if err != nil {
			return fmt.Errorf("node list: %w", err)
		}
		ready := 0
		for _, sn := range list.Items {
			for _, n := range c.Nodes {
				if sn.Description.Hostname == n.Name {
					n.ID = sn.ID
					if sn.Status.State == swarm.NodeStateReady {
						ready++
					}
				}
			}
		}
		if ready == len(c.Nodes) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d nodes Ready after 60s", ready, len(c.Nodes))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Manager is the node that initialised the swarm: the one to create
// services on.
func (c *Cluster) Manager() *Node { return c.Nodes[0] }

// Prefix is the name prefix of everything this cluster created ("hst3").
func (c *Cluster) Prefix() string { return c.names.prefix() }

// Close shuts the daemons down gracefully (their containers stop), then
// removes everything named for the cluster and releases its number. It is
// safe to call on a half-built cluster and more than once.
func (c *Cluster) Close() error {
	if c == nil || c.lock == nil {
		return nil
	}
	for _, n := range c.Nodes {
		n.stop(15 * time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := removeAll(ctx, c.names, c.dir)
	c.lock.Close()
	c.lock = nil
	return err
}

// Logs returns the last n lines of node's daemon log (for failure messages).
func (n *Node) Logs(lines int) string {
	return strings.ReplaceAll(tail(filepath.Join(n.dir, "dockerd.log"), lines), " | ", "\n")
}

func ptr[T any](v T) *T { return &v }
