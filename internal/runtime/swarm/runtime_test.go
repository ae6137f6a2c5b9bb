package swarm

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/runtime"
	"github.com/hotswap/hotswap/internal/runtime/swarm/swarmtest"
)

// TestEndpointsOnEveryNode: a release with one replica per node has one
// endpoint per node, each answering with the release's version from the
// host; after Stop it has none, and Start of the same version scales the
// same service up again with fresh endpoints on both nodes.
func TestEndpointsOnEveryNode(t *testing.T) {
	c := needCluster(t)
	rt := newRuntime(t, func(cfg *Config) { cfg.Replicas = 2; cfg.MaxPerNode = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inst, err := rt.Start(ctx, runtime.Spec{Version: "v2", ReleaseID: 41})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Remove(context.Background()) })
	checkEveryNode(t, c.Nodes[0].Addr, c.Nodes[1].Addr, inst, "v2")

	if err := inst.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if eps := inst.(runtime.Endpointer).Endpoints(); len(eps) != 0 {
		t.Errorf("endpoints after Stop: %v", eps)
	}
	again, err := rt.Start(ctx, runtime.Spec{Version: "v2", ReleaseID: 41})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID() != inst.ID() {
		t.Errorf("Start after Stop made service %s, want the stopped %s scaled up", again.ID(), inst.ID())
	}
	checkEveryNode(t, c.Nodes[0].Addr, c.Nodes[1].Addr, again, "v2")
}

func checkEveryNode(t *testing.T, addrA, addrB string, inst runtime.Instance, version string) {
	t.Helper()
	eps := inst.(runtime.Endpointer).Endpoints()
	if len(eps) != 2 {
		t.Fatalf("endpoints %v, want 2 (one per node)", eps)
	}
	hosts := map[string]bool{}
	for _, ep := range eps {
		hosts[strings.Split(ep, ":")[0]] = true
		if got := swarmtest.Get(t, "http://"+ep+"/version"); got != version {
			t.Errorf("GET %s/version = %q, want %q", ep, got, version)
		}
	}
	if !hosts[addrA] || !hosts[addrB] {
		t.Errorf("endpoints %v, want one on %s and one on %s", eps, addrA, addrB)
	}
	if a := inst.Addr(); a != eps[0] && a != eps[1] {
		t.Errorf("Addr() = %q, not one of %v", a, eps)
	}
}

// TestImageMissingOnOneNode: a version whose image only the first node has
// fails Start with ErrArtifactMissing naming the second node, and leaves no
// service behind: it never gets an address to send traffic to.
func TestImageMissingOnOneNode(t *testing.T) {
	c := needCluster(t)
	rt := newRuntime(t, func(cfg *Config) { cfg.Replicas = 2; cfg.MaxPerNode = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := rt.Prepare(ctx, "v3-one", io.Discard); err != nil {
		t.Fatalf("Prepare on the manager, which has the image: %v", err)
	}
	inst, err := rt.Start(ctx, runtime.Spec{Version: "v3-one", ReleaseID: 5})
	if err == nil {
		inst.Remove(context.Background())
		t.Fatal("Start succeeded with the image missing on a node")
	}
	if !errors.Is(err, runtime.ErrArtifactMissing) {
		t.Errorf("error %v, want ErrArtifactMissing", err)
	}
	if !strings.Contains(err.Error(), c.Nodes[1].Name) {
		t.Errorf("error %q does not name node %s", err, c.Nodes[1].Name)
	}
	ids, err := rt.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 0 {
		t.Errorf("services left after the failed Start: %v", ids)
	}
}

// TestCrashOnOneNode: a version that runs on the first node and crashes at
// boot on the second never counts as running: Start fails naming the
// second node (when the crash is seen before every task ran), or the
// instance ends with an Exit naming it (when Swarm reported both running
// first). Either way the engine fails the release before any switch. The
// test image crashes where TESTENTRY_CRASH_ON names the node Swarm puts in
// TESTENTRY_NODE.
func TestCrashOnOneNode(t *testing.T) {
	c := needCluster(t)
	b := c.Nodes[1]
	rt := newRuntime(t, func(cfg *Config) {
		cfg.Replicas, cfg.MaxPerNode = 2, 1
		cfg.Env = map[string]string{"TESTENTRY_NODE": "{{.Node.Hostname}}", "TESTENTRY_CRASH_ON": b.Name}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inst, err := rt.Start(ctx, runtime.Spec{Version: "v1", ReleaseID: 9})
	if err == nil {
		t.Cleanup(func() { inst.Remove(context.Background()) })
		select {
		case <-inst.Done():
		case <-ctx.Done():
			t.Fatalf("the instance crashing on %s never ended (endpoints %v)", b.Name, inst.(runtime.Endpointer).Endpoints())
		}
		e, _ := inst.Exit()
		err = e.Err
		if err == nil {
			t.Fatalf("Exit %v: want the crash on %s", e, b.Name)
		}
	} else if ids, lerr := rt.List(ctx); lerr != nil || len(ids) != 0 {
		t.Errorf("services left after the failed Start: %v (%v)", ids, lerr)
	}
	if !strings.Contains(err.Error(), b.Name) || !strings.Contains(err.Error(), "exit code 3") {
		t.Errorf("error %q, want node %s and exit code 3 named", err, b.Name)
	}
}

// TestRecreateFromRecordedDigest: the engine records Prepare's digest; a
// release whose service was removed is recreated from that record (the
// digest as the version), runs the very same image, and serves.
func TestRecreateFromRecordedDigest(t *testing.T) {
	rt := newRuntime(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	art, err := rt.Prepare(ctx, "v2", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	first, err := rt.Start(ctx, runtime.Spec{Version: "v2", ReleaseID: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := rt.Start(ctx, runtime.Spec{Version: art.Digest, ReleaseID: 3})
	if err != nil {
		t.Fatalf("recreate from digest %s: %v", art.Digest, err)
	}
	t.Cleanup(func() { again.Remove(context.Background()) })
	if got := swarmtest.Get(t, "http://"+again.Addr()+"/version"); got != "v2" {
		t.Errorf("recreated release answers %q, want v2", got)
	}
}
