package edge

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// onV1 starts three loopback edges (with lagGrace) and a leader whose log
// is logPath, and commits generation 1 (web v1) on all of them.
func onV1(t *testing.T, lagGrace time.Duration) (logPath string, edges []*testEdge, c *Coordinator) {
	t.Helper()
	dir := t.TempDir()
	edges = []*testEdge{
		startEdge(t, "edge-a", dir, lagGrace),
		startEdge(t, "edge-b", dir, lagGrace),
		startEdge(t, "edge-c", dir, lagGrace),
	}
	logPath = filepath.Join(dir, "leader.json")
	c = newCoord(t, logPath, edges)
	if _, err := c.Switch(context.Background(), []Route{route("web", "v1", backend(t, "v1"))}); err != nil {
		t.Fatal(err)
	}
	return logPath, edges, c
}

// TestSwitchCommitsEverywhere: v1 then v2 on three edges; every edge
// switches, writes the generation to disk and acks; skew is measured.
func TestSwitchCommitsEverywhere(t *testing.T) {
	_, edges, c := onV1(t, time.Minute)
	ctx := context.Background()
	serving(t, edges, "web", "v1", 1)
	res, err := c.Switch(ctx, []Route{route("web", "v2", backend(t, "v2"))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Generation != 2 {
		t.Errorf("second generation is %d, want 2", res.Generation)
	}
	serving(t, edges, "web", "v2", 2)
	if len(res.Acks) != 3 || len(res.Lagging) != 0 {
		t.Fatalf("acks %v lagging %v, want 3 acks", res.Acks, res.Lagging)
	}
	if res.Skew < 0 || res.Skew > time.Second {
		t.Errorf("skew %v: want the spread of three loopback acks", res.Skew)
	}
	t.Logf("commit skew across 3 loopback edges: %v", res.Skew)
}

// TestOneEdgeNotReadyAborts: one edge's probes fail (the version is
// unhealthy as seen from its node): the round aborts, no edge switches or
// keeps the prepared generation, the error names that edge, and the
// leader's log still says the old generation.
func TestOneEdgeNotReadyAborts(t *testing.T) {
	logPath, edges, c := onV1(t, time.Minute)
	ctx := context.Background()
	installs := []int{edges[0].table.count(), edges[1].table.count(), edges[2].table.count()}

	_, err := c.Switch(ctx, []Route{route("web", "v2", backend(t, "v2", "edge-b"))})
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("Switch: %v, want ErrNotReady", err)
	}
	if !strings.Contains(err.Error(), "edge-b") || strings.Contains(err.Error(), "edge-a:") {
		t.Errorf("error %q should name edge-b only", err)
	}
	serving(t, edges, "web", "v1", 1)
	for i, e := range edges {
		if e.table.count() != installs[i] {
			t.Errorf("edge %s installed during an aborted round", e.name)
		}
	}
	committed, pending, err := NewFileLog(logPath).Load()
	if err != nil || committed.Number != 1 || pending != 0 {
		t.Errorf("leader log: committed %d pending %d (%v), want 1 and none", committed.Number, pending, err)
	}
	// The next round uses a fresh number, never the aborted one.
	res, err := c.Switch(ctx, []Route{route("web", "v2", backend(t, "v2"))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Generation != 3 {
		t.Errorf("generation after an abort is %d, want 3 (2 is spent)", res.Generation)
	}
	serving(t, edges, "web", "v2", 3)
}

// TestEdgeCutOffAtCommit: edge-c is reachable at PREPARE and cut off
// before COMMIT. a and b switch; c keeps serving v1, reports lagging after
// its grace (its /ready goes 503 so the load balancer drains it), and
// converges to v2 when it is reachable again.
func TestEdgeCutOffAtCommit(t *testing.T) {
	_, edges, c := onV1(t, 150*time.Millisecond)
	ctx := context.Background()
	cut := edges[2]
	c.setTestHook(func(point string) error {
		if point == "prepared" {
			cut.stop()
		}
		return nil
	})
	res, err := c.Switch(ctx, []Route{route("web", "v2", backend(t, "v2"))})
	if err != nil {
		t.Fatalf("Switch: %v (a lagging edge must not fail a committed switch)", err)
	}
	c.setTestHook(nil)
	if _, lag := res.Lagging["edge-c"]; !lag || len(res.Acks) != 2 {
		t.Fatalf("acks %v lagging %v, want a and b acked, c lagging", res.Acks, res.Lagging)
	}
	serving(t, edges[:2], "web", "v2", 2)
	if got := cut.table.version("web"); got != "v1" {
		t.Fatalf("cut-off edge serves %q, want v1 (the previous generation)", got)
	}
	waitFor(t, 5*time.Second, "edge-c reports lagging", func() bool { return cut.srv.State().Lagging })
	status, err := c.Status(ctx)
	if err != nil || len(status) != 3 || status[2].Unreachable == "" || status[2].Behind == 0 || status[0].Behind != 0 {
		t.Errorf("leader's status while edge-c is cut off: %+v (%v), want edge-c unreachable and behind, edge-a in step", status, err)
	}

	cut.restart(t)
	if code := getReady(t, cut); code != http.StatusServiceUnavailable {
		t.Errorf("lagging edge /ready = %d, want 503", code)
	}
	if code := getReady(t, edges[0]); code != http.StatusOK {
		t.Errorf("edge-a /ready = %d, want 200", code)
	}
	moved, behind, err := c.Converge(ctx)
	if err != nil || len(behind) != 0 || len(moved) != 1 || moved[0] != "edge-c" {
		t.Fatalf("Converge: moved %v behind %v err %v, want edge-c moved", moved, behind, err)
	}
	serving(t, edges, "web", "v2", 2)
	if code := getReady(t, cut); code != http.StatusOK {
		t.Errorf("converged edge /ready = %d, want 200", code)
	}
	if status, err := c.Status(ctx); err != nil || status[2].Behind != 0 || status[2].Unreachable != "" {
		t.Errorf("leader's status after converging: %+v (%v), want edge-c in step", status, err)
	}
}

// TestLeaderKilledAfterPrepare: the leader dies with every edge prepared
// and nothing committed. A new leader on the same log aborts the intent:
// every edge keeps v1 and holds nothing prepared, and the next switch works.
func TestLeaderKilledAfterPrepare(t *testing.T) {
	logPath, edges, c := onV1(t, time.Minute)
	ctx := context.Background()
	c.setTestHook(func(point string) error {
		if point == "prepared" {
			return errCrash
		}
		return nil
	})
	if _, err := c.Switch(ctx, []Route{route("web", "v2", backend(t, "v2"))}); !errors.Is(err, errCrash) {
		t.Fatalf("Switch: %v, want the simulated crash", err)
	}
	for _, e := range edges {
		if st := e.srv.State(); st.Prepared != 2 {
			t.Fatalf("edge %s prepared %d before the crash, want 2", e.name, st.Prepared)
		}
	}

	again := newCoord(t, logPath, edges)
	if err := again.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	serving(t, edges, "web", "v1", 1)
	res, err := again.Switch(ctx, []Route{route("web", "v2", backend(t, "v2"))})
	if err != nil {
		t.Fatal(err)
	}
	serving(t, edges, "web", "v2", res.Generation)
}

// TestEdgeRestartServesFromDisk: a restarted edge installs the generation
// on its disk before it answers anything; a generation it had prepared
// before the restart is still owed a COMMIT (it reports lagging after its
// grace, /ready 503) and commits when the COMMIT comes; a COMMIT of a
// generation it never prepared is refused with 409.
func TestEdgeRestartServesFromDisk(t *testing.T) {
	_, edges, c := onV1(t, time.Minute)
	ctx := context.Background()
	e := edges[1]
	gen := Generation{Number: 2, Routes: []Route{route("web", "v2", backend(t, "v2"))}}
	if nr := c.prepare(ctx, []EdgeRef{e.ref()}, gen); len(nr) != 0 {
		t.Fatal(nr)
	}
	e.stop()
	e.table = &recTable{}
	e.newServer(t, 100*time.Millisecond)
	e.restart(t)
	if got := e.table.version("web"); got != "v1" {
		t.Fatalf("restarted edge serves %q, want v1 from its state file", got)
	}
	if st := e.srv.State(); st.Committed != 1 || st.Prepared != 2 {
		t.Fatalf("restarted edge state %+v, want committed 1 and 2 still prepared", st)
	}
	waitFor(t, 5*time.Second, "restarted edge lags", func() bool { return e.srv.State().Lagging })
	if code := getReady(t, e); code != http.StatusServiceUnavailable {
		t.Errorf("/ready of an edge owed a COMMIT = %d, want 503", code)
	}
	res, err := c.commit(ctx, []EdgeRef{e.ref()}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if why := res.Lagging[e.name]; !strings.Contains(why, "409") {
		t.Errorf("COMMIT of a generation never prepared: %q, want a 409 refusal", why)
	}
	if res, err = c.commit(ctx, []EdgeRef{e.ref()}, 2); err != nil || len(res.Acks) != 1 {
		t.Fatalf("COMMIT of the generation prepared before the restart: %+v, %v", res, err)
	}
	if got := e.table.version("web"); got != "v2" {
		t.Errorf("after COMMIT the edge serves %q, want v2", got)
	}
	if _, err := os.Stat(preparedPath(e.state)); !os.IsNotExist(err) {
		t.Errorf("prepared file left after COMMIT: %v", err)
	}
	if code := getReady(t, e); code != http.StatusOK {
		t.Errorf("/ready after COMMIT = %d, want 200", code)
	}
}

// TestWatchConvergesAnEdgeThatComesBack: with the leader's Watch loop
// running, an edge that was down for a switch catches up on its own once
// it answers again, and Watch ends with its context.
func TestWatchConvergesAnEdgeThatComesBack(t *testing.T) {
	_, edges, c := onV1(t, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan error, 1)
	go func() { watched <- c.Watch(ctx, 50*time.Millisecond) }()
	defer func() {
		cancel()
		if err := <-watched; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch ended with %v, want context.Canceled", err)
		}
	}()
	down := edges[1]
	c.setTestHook(func(point string) error {
		if point == "prepared" {
			down.stop()
		}
		return nil
	})
	res, err := c.Switch(ctx, []Route{route("web", "v2", backend(t, "v2"))})
	c.setTestHook(nil)
	if err != nil || len(res.Lagging) != 1 {
		t.Fatalf("Switch: %+v, %v; want edge-b lagging", res, err)
	}
	down.restart(t)
	waitFor(t, 5*time.Second, "edge-b converged by Watch", func() bool { return down.srv.State().Committed == res.Generation })
	serving(t, edges, "web", "v2", res.Generation)
}

// TestSwitchServiceKeepsOthers: switching one service carries the other
// services' routes into the new generation unchanged, also when two
// services are switched at the same moment.
func TestSwitchServiceKeepsOthers(t *testing.T) {
	_, edges, c := onV1(t, time.Minute)
	ctx := context.Background()
	api, web := route("api", "a1", backend(t, "a1")), route("web", "v2", backend(t, "v2"))
	errs := make(chan error, 2)
	for _, r := range []Route{api, web} {
		go func() {
			_, err := c.SwitchService(ctx, r)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	serving(t, edges, "web", "v2", 3)
	serving(t, edges, "api", "a1", 3)
}
