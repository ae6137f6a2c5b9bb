package swarmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// TestClusterServesHostModeTasks builds a two-node cluster, runs a
// two-replica service with a host-mode published port spread over both
// nodes, and reaches every task from the host at node address + the
// ephemeral host port Swarm reports in the task's port status. Then Close
// must leave nothing named for the cluster behind.
func TestClusterServesHostModeTasks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Nodes: 2})
	if err != nil {
		skipOrFail(t, err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			c.Close()
		}
	})
	id, err := c.LoadImage(ctx, "hotswap-swarmtest/web:v1", []string{"--version", "v1"})
	if err != nil {
		t.Fatal(err)
	}
	mgr := c.Manager().Client
	replicas := uint64(2)
	res, err := mgr.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "hs-harness-r1"},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: id},
			// One task per node: the test must see both nodes serve.
			Placement: &swarm.Placement{MaxReplicas: 1},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{
			Protocol: network.TCP, TargetPort: 3000, PublishMode: swarm.PortConfigPublishModeHost,
		}}},
	}})
	if err != nil {
		t.Fatalf("service create: %v", err)
	}
	nodeAddr := map[string]string{}
	for _, n := range c.Nodes {
		nodeAddr[n.ID] = n.Addr
	}
	var addrs []string
	deadline := time.Now().Add(90 * time.Second)
	for len(addrs) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("tasks not running with ports after 90s (have %v)\nmanager log:\n%s", addrs, c.Manager().Logs(10))
		}
		addrs = addrs[:0]
		tasks, err := mgr.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", res.ID)})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks.Items {
			if task.Status.State != swarm.TaskStateRunning || len(task.Status.PortStatus.Ports) == 0 {
				continue
			}
			addrs = append(addrs, fmt.Sprintf("%s:%d", nodeAddr[task.NodeID], task.Status.PortStatus.Ports[0].PublishedPort))
		}
		time.Sleep(200 * time.Millisecond)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		host := strings.Split(a, ":")[0]
		seen[host] = true
		body := Get(t, "http://"+a+"/version")
		if body != "v1" {
			t.Errorf("GET %s/version = %q, want v1", a, body)
		}
	}
	if len(seen) != 2 {
		t.Errorf("tasks on %d nodes (%v), want 2", len(seen), addrs)
	}

	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	closed = true
	assertGone(t, c)
}

// TestStaleClusterRemoved: a cluster whose owner vanished without Close
// (its lock released, daemons and namespaces still there, as after kill
// -9 of a test) is removed by the next Start that takes its number.
func TestStaleClusterRemoved(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Nodes: 1})
	if err != nil {
		skipOrFail(t, err)
	}
	stale := c.names
	pid := c.Nodes[0].cmd.Process.Pid
	// Forget the cluster the way a killed process does: only the lock goes.
	c.lock.Close()
	c.lock = nil
	t.Cleanup(func() { removeAll(context.Background(), stale, c.dir) })

	c2, err := Start(ctx, Options{Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.names != stale {
		t.Fatalf("second cluster took %s, want the stale %s", c2.names.prefix(), stale.prefix())
	}
	if pidAlive(pid) {
		t.Errorf("stale dockerd %d still running", pid)
	}
	if _, err := c2.Manager().Client.Ping(ctx, client.PingOptions{}); err != nil {
		t.Fatalf("new cluster's daemon: %v", err)
	}
}

func skipOrFail(t *testing.T, err error) {
	t.Helper()
	if strings.Contains(err.Error(), ErrUnavailable.Error()) {
		t.Skip(err)
	}
	t.Fatal(err)
}

// assertGone checks that no namespace, link, cgroup, mount or directory
// named for c remains.
func assertGone(t *testing.T, c *Cluster) {
	t.Helper()
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, c.Prefix()+"-") {
			t.Errorf("namespace left: %s", line)
		}
	}
	if linkExists(context.Background(), c.names.hostLink()) {
		t.Errorf("host link %s left", c.names.hostLink())
	}
	if cg := clusterCgroups(c.names); len(cg) > 0 {
		t.Errorf("cgroups left: %v", cg)
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("directory %s left (%v)", c.dir, err)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), c.dir) {
		t.Errorf("mounts under %s left", c.dir)
	}
}
