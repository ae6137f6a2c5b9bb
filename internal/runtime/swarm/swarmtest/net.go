package swarmtest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// ip runs the ip(8) command and returns its error with its output, so a
// failed step says what the kernel refused.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// inNS runs ip(8) inside the named network namespace.
func inNS(ctx context.Context, ns string, args ...string) error {
	return ip(ctx, append([]string{"-n", ns}, args...)...)
}

// names are the kernel objects of cluster k. Interface names stay within
// the kernel's 15 bytes for k < 100 and i < 10.
type names struct{ k int }

func (n names) prefix() string        { return fmt.Sprintf("hst%d", n.k) }
func (n names) hub() string           { return n.prefix() + "-hub" }
func (n names) bridge() string        { return n.prefix() + "br" }
func (n names) hostLink() string      { return n.prefix() + "x" }  // host namespace end
func (n names) hostPeer() string      { return n.prefix() + "xh" } // its hub end
func (n names) node(i int) string     { return fmt.Sprintf("%s-n%d", n.prefix(), i) }
func (n names) nodeLink(i int) string { return fmt.Sprintf("%sa%d", n.prefix(), i) } // node end
func (n names) nodePeer(i int) string { return fmt.Sprintf("%sb%d", n.prefix(), i) } // hub end
func (n names) hostAddr() string      { return fmt.Sprintf("10.213.%d.1", n.k) }
func (n names) nodeAddr(i int) string { return fmt.Sprintf("10.213.%d.%d", n.k, 10+i) }

// buildHub creates the hub namespace with its bridge and the host's link
// into it. The host end gets 10.213.k.1/24, which routes only the cluster's
// own subnet.
func buildHub(ctx context.Context, n names) error {
	steps := [][]string{
		{"netns", "add", n.hub()},
		{"-n", n.hub(), "link", "add", n.bridge(), "type", "bridge"},
		{"-n", n.hub(), "link", "set", n.bridge(), "up"},
		{"link", "add", n.hostLink(), "type", "veth", "peer", "name", n.hostPeer()},
		{"link", "set", n.hostPeer(), "netns", n.hub()},
		{"-n", n.hub(), "link", "set", n.hostPeer(), "master", n.bridge(), "up"},
		{"addr", "add", n.hostAddr() + "/24", "dev", n.hostLink()},
		{"link", "set", n.hostLink(), "up"},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

// buildNode creates node i's namespace, its link to the hub bridge (eth0
// inside, address nodeAddr(i)/24) and loopback. No default route: the node
// reaches its cluster's subnet and nothing else.
func buildNode(ctx context.Context, n names, i int) error {
	ns := n.node(i)
	steps := [][]string{
		{"netns", "add", ns},
		{"link", "add", n.nodeLink(i), "type", "veth", "peer", "name", n.nodePeer(i)},
		{"link", "set", n.nodePeer(i), "netns", n.hub()},
		{"-n", n.hub(), "link", "set", n.nodePeer(i), "master", n.bridge(), "up"},
		{"link", "set", n.nodeLink(i), "netns", ns},
		{"-n", ns, "link", "set", n.nodeLink(i), "name", "eth0"},
		{"-n", ns, "addr", "add", n.nodeAddr(i) + "/24", "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

// LinkDown cuts node's link to the rest of the cluster (its hub end goes
// down): the node and everything on it keep running but nothing reaches it
// and it reaches nothing, the way a pulled cable looks.
func (c *Cluster) LinkDown(ctx context.Context, node *Node) error {
	return inNS(ctx, c.names.hub(), "link", "set", c.names.nodePeer(node.index), "down")
}

// LinkUp restores what LinkDown cut.
func (c *Cluster) LinkUp(ctx context.Context, node *Node) error {
	return inNS(ctx, c.names.hub(), "link", "set", c.names.nodePeer(node.index), "up")
}
