package edge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/loadgen"
	"github.com/hotswap/hotswap/internal/runtime"
	"github.com/hotswap/hotswap/internal/runtime/swarm"
	"github.com/hotswap/hotswap/internal/runtime/swarm/swarmtest"
)

// TestManyHostsOnSwarm is the whole many-host path on a real two-node
// Swarm: release services from the Swarm runtime, one `hotswap edge`
// process inside each node's network namespace, the leader's Coordinator
// in the test. Under load through both edges: deploy v1→v2 and a warm
// rollback to v1 fail no request; then node B's link is cut between
// PREPARE and COMMIT: A switches with no failed request, B keeps the
// previous generation, and converges once the link is back; last,
// rollbacks to a release scaled to 0 and to one removed (recreated from
// its recorded digest) fail no request either.
func TestManyHostsOnSwarm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Swarm cluster")
	}
	t0 := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(t0).Seconds(), what) }
	c := swarmtest.New(t, swarmtest.Options{Nodes: 2})
	phase("cluster up")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, v := range []string{"v1", "v2"} {
		if _, err := c.LoadImage(ctx, "hotswap-edge/web:"+v, []string{"--version", v}); err != nil {
			t.Fatal(err)
		}
	}
	rt, err := swarm.New(c.Manager().Client, swarm.Config{
		Service: "web", Image: "hotswap-edge/web", Replicas: 2, MaxPerNode: 1,
		StopGrace: 2 * time.Second, PollInterval: 100 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := func(version string, release int64) (Route, runtime.Instance) {
		t.Helper()
		inst, err := rt.Start(ctx, runtime.Spec{Version: version, ReleaseID: release})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := inst.Remove(rctx); err != nil {
				t.Errorf("remove %s: %v", version, err)
			}
			phase("removed " + version)
		})
		return Route{Service: "web", Version: version, Release: release, HealthPath: "/health",
			Endpoints: inst.(runtime.Endpointer).Endpoints()}, inst
	}

	phase("images loaded")
	bin := buildHotswap(t)
	phase("hotswap built")
	dir := t.TempDir()
	var refs []EdgeRef
	var urls []string
	for _, n := range c.Nodes {
		refs = append(refs, runEdgeOnNode(t, bin, dir, n))
		urls = append(urls, "http://"+n.Addr+":8080")
	}
	coord, err := NewCoordinator(CoordinatorConfig{
		Edges: refs, Token: testToken, Log: NewFileLog(filepath.Join(dir, "leader.json")),
		PrepareTimeout: 10 * time.Second, CommitTimeout: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	settle := func(want string, urls ...string) {
		t.Helper()
		for _, u := range urls {
			waitFor(t, 10*time.Second, u+" serves "+want, func() bool { return strings.TrimSpace(get(u)) == want })
		}
	}

	phase("edges up")
	v1, inst1 := start("v1", 1)
	if _, err := coord.Switch(ctx, []Route{v1}); err != nil {
		t.Fatal(err)
	}
	settle("v1", urls...)

	// Deploy and warm rollback under load through both edges.
	var loads []*loadgen.Background
	for _, u := range urls {
		loads = append(loads, loadgen.Start(ctx, loadgen.Options{URL: u, Workers: 2, MaxRequests: 100000}))
	}
	// The engine records the digest at deploy time: a removed release is
	// recreated from it.
	art2, err := rt.Prepare(ctx, "v2", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v2, inst2 := start("v2", 2)
	res, err := coord.Switch(ctx, []Route{v2})
	if err != nil {
		t.Fatal(err)
	}
	settle("v2", urls...)
	t.Logf("deploy v1→v2 on 2 nodes: generation %d, commit skew %v", res.Generation, res.Skew)
	begin := time.Now()
	res, err = coord.Switch(ctx, []Route{v1})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	settle("v1", urls...)
	t.Logf("warm rollback v2→v1 on 2 nodes: %v at the leader (PREPARE probes included), commit skew %v", took, res.Skew)
	for i, l := range loads {
		if r := l.Stop(); r.Failed != 0 || r.Versions["v1"] == 0 || r.Versions["v2"] == 0 {
			t.Errorf("load through %s: %s; failures %v", urls[i], r, r.Failures)
		}
	}

	phase("deploy and rollback done")
	// Node B's link goes down between PREPARE and COMMIT.
	b := c.Nodes[1]
	loadA := loadgen.Start(ctx, loadgen.Options{URL: urls[0], Workers: 2, MaxRequests: 100000})
	coord.setTestHook(func(point string) error {
		if point == "prepared" {
			if err := c.LinkDown(ctx, b); err != nil {
				return err
			}
		}
		return nil
	})
	res, err = coord.Switch(ctx, []Route{v2})
	coord.setTestHook(nil)
	if err != nil {
		c.LinkUp(ctx, b)
		t.Fatal(err)
	}
	if _, lag := res.Lagging[b.Name]; !lag {
		t.Errorf("lagging %v, want %s", res.Lagging, b.Name)
	}
	settle("v2", urls[0])
	if r := loadA.Stop(); r.Failed != 0 {
		t.Errorf("load through A while B was cut off: %s; failures %v", r, r.Failures)
	}
	if err := c.LinkUp(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(get(urls[1])); got != "v1" {
		t.Errorf("B after the cut serves %q, want the previous v1", got)
	}
	phase("cut-off switch done")
	moved, behind, err := coord.Converge(ctx)
	if err != nil || len(behind) != 0 || len(moved) != 1 {
		t.Fatalf("Converge: moved %v behind %v err %v", moved, behind, err)
	}
	settle("v2", urls[1])
	phase("converged")

	// Rollbacks that are not warm, under load through both edges: to v1
	// scaled to 0 (scale up, no pull), then to v2 after its service was
	// removed (recreated from the recorded digest).
	loads = loads[:0]
	for _, u := range urls {
		loads = append(loads, loadgen.Start(ctx, loadgen.Options{URL: u, Workers: 2, MaxRequests: 100000}))
	}
	if err := inst1.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	v1, _ = start("v1", 1)
	if _, err := coord.Switch(ctx, []Route{v1}); err != nil {
		t.Fatal(err)
	}
	settle("v1", urls...)
	phase("rolled back to v1 from scale 0")
	if err := inst2.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	v2, _ = start(art2.Digest, 2)
	if _, err := coord.Switch(ctx, []Route{v2}); err != nil {
		t.Fatal(err)
	}
	settle("v2", urls...)
	phase("rolled back to removed v2, recreated from its digest")
	for i, l := range loads {
		if r := l.Stop(); r.Failed != 0 {
			t.Errorf("load through %s during cold rollbacks: %s; failures %v", urls[i], r, r.Failures)
		}
	}

	// Node B's dockerd is killed under load: its local task's published
	// port goes with it. B's edge (still running) moves to A's endpoint
	// within its watch interval; A never notices. The failures on B are
	// bounded by what was in flight or sent within that interval.
	loads = loads[:0]
	for _, u := range urls {
		loads = append(loads, loadgen.Start(ctx, loadgen.Options{URL: u, Workers: 2, MaxRequests: 100000}))
	}
	hold := func() { time.Sleep(300 * time.Millisecond) } // load runs a while on each side of the event
	hold()
	killed := time.Now()
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "B's edge serves again", func() bool {
		return strings.TrimSpace(get(urls[1])) == "v2" && strings.TrimSpace(get(urls[1])) == "v2"
	})
	t.Logf("B's edge served again %v after B's dockerd was killed (watch_interval 200ms)", time.Since(killed).Round(10*time.Millisecond))
	hold()
	ra, rb := loads[0].Stop(), loads[1].Stop()
	if ra.Failed != 0 {
		t.Errorf("load through A while B's dockerd died: %s; failures %v", ra, ra.Failures)
	}
	t.Logf("load through B while its dockerd died: %s", rb)
	after := loadgen.Run(ctx, loadgen.Options{URL: urls[1], Workers: 2, MaxRequests: 2000})
	if after.Failed != 0 {
		t.Errorf("load through B after it moved to A's endpoint: %s; failures %v", after, after.Failures)
	}
	phase("B's dockerd killed, its edge moved to A")
	t.Cleanup(func() { phase("cleaned up") })
}

// buildHotswap compiles the hotswap binary (static, so it runs anywhere).
func buildHotswap(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "hotswap")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/hotswap")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return bin
}

// runEdgeOnNode starts `hotswap edge` inside node's network namespace,
// listening on the node's address (traffic :8080, control :9443), and
// stops it (by PID) when t ends.
func runEdgeOnNode(t *testing.T, bin, dir string, n *swarmtest.Node) EdgeRef {
	t.Helper()
	tokenFile := filepath.Join(dir, n.Name+".token")
	cfgFile := filepath.Join(dir, n.Name+".yaml")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("name: %s\nlisten: %s:8080\ncontrol: %s:9443\nnode_address: %s\ntoken_file: %s\nstate_file: %s\nprobe_timeout: 5s\nwatch_interval: 200ms\nservices:\n  - name: web\n",
		n.Name, n.Addr, n.Addr, n.Addr, tokenFile, filepath.Join(dir, n.Name+".state.json"))
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, n.Name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net=/run/netns/"+n.Name, "--", bin, "edge", "--edge-config", cfgFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logf.Name())
			t.Logf("edge %s log:\n%s", n.Name, data)
		}
	})
	ref := EdgeRef{Name: n.Name, URL: "http://" + n.Addr + ":9443"}
	waitFor(t, 10*time.Second, "edge "+n.Name+" answers", func() bool {
		resp, err := http.Get(ref.URL + PathReady)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return true
	})
	return ref
}
