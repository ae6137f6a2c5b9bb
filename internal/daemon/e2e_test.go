package daemon

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/loadgen"
)

// action is one step of the end-to-end scenario.
type action struct {
	kind    string // deploy | rollback
	version string // for rollback, "" = previous
	want    string // the release's final state
	live    string // the live version afterwards
}

// scenario is 20 deploys and rollbacks, with versions that never turn
// healthy, crash at start and never open their port, warm flips, full
// rollbacks to stopped versions and rollbacks without a version.
var scenario = []action{
	{"deploy", "v2", "live", "v2"},
	{"deploy", "v3", "live", "v3"},
	{"rollback", "", "live", "v2"}, // v2 is warm: a pointer flip
	{"deploy", "v4-unhealthy", "failed", "v2"},
	{"deploy", "v5", "live", "v5"},
	{"deploy", "v6-crash", "failed", "v5"},
	{"rollback", "v1", "live", "v1"}, // v1 was stopped long ago: started again
	{"deploy", "v7", "live", "v7"},
	{"deploy", "v8-noport", "failed", "v7"},
	{"rollback", "", "live", "v1"}, // v1 is warm again
	{"deploy", "v9", "live", "v9"},
	{"rollback", "v7", "live", "v7"},
	{"deploy", "v10", "live", "v10"},
	{"deploy", "v11-crash", "failed", "v10"},
	{"rollback", "v9", "live", "v9"},
	{"deploy", "v12", "live", "v12"},
	{"rollback", "", "live", "v9"},
	{"deploy", "v13", "live", "v13"},
	{"deploy", "v14-unhealthy", "failed", "v13"},
	{"deploy", "v15", "live", "v15"},
}

func TestZeroDowntimeUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end load test; runs without -short")
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir, "")
	d := startDaemon(t, cfg, true)
	c := api.DialSocket(d.SocketPath(), "e2e")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	drain := cfg.Services[0].DrainTimeout
	tl := newTimeline()

	t0 := time.Now()
	rel := do(ctx, t, c, action{"deploy", "v1", "live", "v1"})
	tl.switched(rel.Version, t0, time.Now(), rel.FinishedAt, drain)

	loadCtx, stopLoad := context.WithTimeout(ctx, 4*time.Minute)
	defer stopLoad()
	load := loadgen.Start(loadCtx, loadgen.Options{
		URL: "http://" + d.ProxyAddr(), Host: "web.test",
		Workers: 32, SlowWorkers: 6, SlowMS: 1500, Streams: 1, MaxRequests: 5_000_000,
		Check: tl.observe, Cut: tl.cut,
	})
	defer load.Stop()
	waitForTraffic(t, d, "web")

	for i, a := range scenario {
		t0 := time.Now()
		rel := do(ctx, t, c, a)
		if a.want == "live" {
			tl.switched(rel.Version, t0, time.Now(), rel.FinishedAt, drain)
			// Every version that went live must be seen serving: wait
			// (poll with a deadline) until it has, rather than hope the
			// next step takes long enough.
			waitForTraffic(t, d, "web")
		}
		st, err := c.Status(ctx, "web")
		if err != nil || len(st) != 1 || st[0].Live == nil || st[0].Live.Version != a.live {
			t.Fatalf("step %d (%s %s): live = %+v, err %v; want %s", i+1, a.kind, a.version, st, err, a.live)
		}
	}
	res := load.Stop()
	t.Logf("load: %s", res)
	if res.Failed != 0 {
		t.Errorf("%d requests failed; first failures:\n%s", res.Failed, strings.Join(res.Failures, "\n"))
	}
	tl.checkCuts(t, res)
	if bad := tl.judge(); len(bad) != 0 {
		t.Errorf("%d responses came from a version that was neither live nor draining while they were in flight, e.g. %+v\ntimeline:\n%s",
			len(bad), bad[0], tl)
	}
	if res.Requests < 1000 {
		t.Errorf("only %d requests: the load did not run", res.Requests)
	}
	if res.StreamEvents == 0 {
		t.Error("the long-lived stream received nothing")
	}
	for _, bad := range []string{"v4-unhealthy", "v6-crash", "v8-noport", "v11-crash", "v14-unhealthy"} {
		if n := res.Versions[bad]; n != 0 {
			t.Errorf("%d responses from %s, which never passed its health check", n, bad)
		}
	}
	for _, v := range []string{"v1", "v2", "v3", "v5", "v7", "v9", "v10", "v12", "v13", "v15"} {
		if res.Versions[v] == 0 {
			t.Errorf("no response from %s although it was live", v)
		}
	}
}

// act runs one deploy (or rollback) of svc to its end, checks it settled in
// state want, and returns the release and the time from the API call to the
// end of its stream.
func act(ctx context.Context, t testing.TB, c *api.Client, svc, kind, version, want string) (api.Release, time.Duration) {
	t.Helper()
	t0 := time.Now()
	var acc api.Accepted
	var err error
	if kind == "deploy" {
		acc, err = c.Deploy(ctx, svc, api.DeployRequest{Version: version, Note: "test"})
	} else {
		acc, err = c.Rollback(ctx, svc, api.RollbackRequest{Version: version})
	}
	if err != nil {
		t.Fatalf("%s %s %s: %v", kind, svc, version, err)
	}
	rel := settle(ctx, t, c, acc.Release.ID, want)
	return rel, time.Since(t0)
}

// settle follows release id to its end and fails the test unless it ended
// in state want.
func settle(ctx context.Context, t testing.TB, c *api.Client, id int64, want string) api.Release {
	t.Helper()
	rel, err := c.Follow(ctx, id, nil)
	if err != nil || rel.State != want {
		t.Fatalf("release %d (%s %s %s): %s (%v), want %s; %s", id, rel.Kind, rel.Service, rel.Version, rel.State, err, want, rel.Error)
	}
	return rel
}

// do runs one scenario action on the web service and checks which version
// ended up live.
func do(ctx context.Context, t testing.TB, c *api.Client, a action) api.Release {
	t.Helper()
	rel, _ := act(ctx, t, c, "web", a.kind, a.version, a.want)
	if a.want == "live" && rel.Version != a.live {
		t.Fatalf("%s %s: %s is live, want %s", a.kind, a.version, rel.Version, a.live)
	}
	return rel
}

// waitForTraffic polls until the proxy has served the service at least once.
func waitForTraffic(t testing.TB, d *Daemon, service string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := d.Engine().Status(context.Background(), service)
		if err == nil && st[0].Live != nil && st[0].Live.Traffic.Requests > 100 {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling for an outside condition, with a deadline
	}
	t.Fatal("no traffic reached the service within 10s")
}

// get fetches path through the proxy for host.
func get(t testing.TB, d *Daemon, host, path string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+d.ProxyAddr()+path, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Version"), string(b)
}
