package swarm

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/runtime"
	"github.com/hotswap/hotswap/internal/runtime/swarm/swarmtest"
)

// TestNodeDaemonKilled: node B's dockerd is killed (SIGKILL) while a
// release runs a task on each node. B's endpoint leaves the instance's
// endpoints once Swarm has noticed (heartbeats), A's stays, and the
// instance itself keeps running. The time it took is logged. On its own
// cluster, since it breaks a node.
func TestNodeDaemonKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Swarm cluster of its own")
	}
	needCluster(t) // skip where no cluster can be built
	c := swarmtest.New(t, swarmtest.Options{Nodes: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := c.LoadImage(ctx, testImage+":v1", []string{"--version", "v1"}); err != nil {
		t.Fatal(err)
	}
	rt, err := New(c.Manager().Client, Config{
		Service: "nodeloss", Image: testImage, Replicas: 2, MaxPerNode: 1,
		StopGrace: 2 * time.Second, PollInterval: 100 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := rt.Start(ctx, runtime.Spec{Version: "v1", ReleaseID: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Nodes[0], c.Nodes[1]
	checkEveryNode(t, a.Addr, b.Addr, inst, "v1")

	killed := time.Now()
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	ep := inst.(runtime.Endpointer)
	for {
		eps := ep.Endpoints()
		onB := false
		for _, e := range eps {
			onB = onB || strings.HasPrefix(e, b.Addr+":")
		}
		if !onB && len(eps) == 1 && strings.HasPrefix(eps[0], a.Addr+":") {
			break
		}
		if runtime.Stopped(inst) {
			e, _ := inst.Exit()
			t.Fatalf("instance ended when node B was lost: %v", e)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("endpoints still %v after B's daemon was killed", eps)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("node B's endpoint left the instance %v after its dockerd was killed", time.Since(killed).Round(10*time.Millisecond))
	if got := swarmtest.Get(t, "http://"+ep.Endpoints()[0]+"/version"); got != "v1" {
		t.Errorf("A's endpoint answers %q, want v1", got)
	}

	// A daemon restarted now adopts the release as it is: running, with
	// A's endpoint, without waiting for the replica B cannot run.
	actx, acancel := context.WithTimeout(ctx, 10*time.Second)
	defer acancel()
	adopted, err := rt.Adopt(actx, inst.ID())
	if err != nil {
		t.Fatalf("Adopt with node B down: %v", err)
	}
	if runtime.Stopped(adopted) {
		t.Fatal("adopted instance has Done closed while A serves")
	}
	if eps := adopted.(runtime.Endpointer).Endpoints(); len(eps) != 1 || !strings.HasPrefix(eps[0], a.Addr+":") {
		t.Errorf("adopted endpoints %v, want only A's", eps)
	}
	// Removing it does not wait for the task on the lost node.
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := inst.Remove(rctx); err != nil {
		t.Errorf("Remove with node B down: %v", err)
	}
}
