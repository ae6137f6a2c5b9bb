package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/loadgen"
)

// canaryService is a canary service running the sample app.
const canaryService = `  - name: shop
    hosts: [shop.test]
    runtime: process
    process:
      command: [%q, --port, "{port}", --version, "{version}"]
    health: {path: /health, interval: 50ms, healthy_threshold: 1, deadline: 3s}
    drain_timeout: 5s
    warm_for: 1m
    strategy: canary
    canary:
      steps: [{weight: 10, duration: %s}, {weight: 50, duration: %s}]
      sticky_cookie: shop_canary
    analysis: {interval: 400ms, min_requests: 20, max_error_rate: 0.05}
`

// TestCanaryAbortsOnErrors: a canary answering 50%% 5xx is sent back by the
// first analysis with enough requests; clients on the stable version see no
// failure while it happens.
func TestCanaryAbortsOnErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := servicesConfig(t, dir, fmt.Sprintf(canaryService, sampleBin, "1m", "1m"), "")
	d := startDaemon(t, cfg, true)
	c := api.DialSocket(d.SocketPath(), "test")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "shop", "v1", "live")

	load := loadgen.Start(ctx, loadgen.Options{URL: "http://" + d.ProxyAddr(), Host: "shop.test", Workers: 16, MaxRequests: 2_000_000})
	defer load.Stop()
	rel := mustDeploy(ctx, t, c, "shop", "v2-errors", "rolled_back")
	res := load.Stop()
	t.Logf("load: %s; failures by version: %v", res, res.FailedByVersion)

	if n := res.FailedByVersion["v1"] + res.FailedByVersion[""]; n != 0 {
		t.Errorf("%d failed requests for clients on the stable version", n)
	}
	if res.FailedByVersion["v2-errors"] == 0 {
		t.Error("the canary served no failing request: the test did not exercise it")
	}
	var v struct {
		ErrorRate float64  `json:"error_rate"`
		Requests  uint64   `json:"requests"`
		Failed    []string `json:"failed"`
	}
	if err := json.Unmarshal([]byte(rel.Analysis), &v); err != nil || v.ErrorRate < 0.05 || len(v.Failed) == 0 {
		t.Errorf("release analysis %q (%v): want the failing numbers on record", rel.Analysis, err)
	}
	detail, err := c.Release(ctx, rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	judged := 0
	for _, e := range detail.Events {
		if e.Step == "analysis" {
			judged++
		}
	}
	if judged != 1 {
		t.Errorf("%d analysis verdicts before the abort, want 1: the first judgement with enough requests must abort", judged)
	}
	st, _ := c.Status(ctx, "shop")
	if st[0].Live == nil || st[0].Live.Version != "v1" {
		t.Errorf("live after the abort: %+v, want v1", st[0].Live)
	}
}

// TestCanarySplitAndStickiness: over 10,000 requests each step's share is
// within 2 points of its weight, and a client that keeps its cookie sees one
// version for the whole step.
func TestCanarySplitAndStickiness(t *testing.T) {
	dir := t.TempDir()
	cfg := servicesConfig(t, dir, fmt.Sprintf(canaryService, sampleBin, "1m", "1m"), "")
	d := startDaemon(t, cfg, true)
	c := api.DialSocket(d.SocketPath(), "test")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "shop", "v1", "live")
	acc, err := c.Deploy(ctx, "shop", api.DeployRequest{Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	for i, weight := range []float64{10, 50} {
		waitEvent(ctx, t, c, acc.Release.ID, "canary", fmt.Sprintf("step %d/2", i+1))
		share := canaryShare(t, d, "v2", 10_000)
		t.Logf("step %d: v2 share %.2f%% of 10,000 requests (weight %g%%)", i+1, share, weight)
		if math.Abs(share-weight) > 2 {
			t.Errorf("step %d: v2 got %.2f%% of 10,000 requests, want %g%% ± 2", i+1, share, weight)
		}
		if vs := stickyVersions(t, d, 200); len(vs) != 1 {
			t.Errorf("step %d: a client with the cookie saw %v, want one version", i+1, vs)
		}
		if _, err := c.Promote(ctx, "shop"); err != nil { // end the step early
			t.Fatal(err)
		}
	}
	settle(ctx, t, c, acc.Release.ID, "live")
	if share := canaryShare(t, d, "v2", 1000); share != 100 {
		t.Errorf("after the canary: v2 has %.1f%% of traffic, want 100%%", share)
	}
}

// canaryShare sends n cookie-less requests and returns version's percentage.
func canaryShare(t *testing.T, d *Daemon, version string, n int) float64 {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	got := 0
	ch := make(chan string, n)
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			req, _ := http.NewRequest(http.MethodGet, "http://"+d.ProxyAddr()+"/", nil)
			req.Host = "shop.test"
			resp, err := hc.Do(req)
			if err != nil {
				ch <- "error"
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ch <- resp.Header.Get("X-Version")
		}()
	}
	for i := 0; i < n; i++ {
		if <-ch == version {
			got++
		}
	}
	return 100 * float64(got) / float64(n)
}

// stickyVersions sends n requests from one client that keeps its cookies.
func stickyVersions(t *testing.T, d *Daemon, n int) map[string]int {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		req, _ := http.NewRequest(http.MethodGet, "http://"+d.ProxyAddr()+"/", nil)
		req.Host = "shop.test"
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		seen[resp.Header.Get("X-Version")]++
	}
	return seen
}

// TestBakeRollsBackBadBlueGreen: a blue/green deploy that passes its health
// check but answers 5xx is rolled back to the warm previous version by the
// bake analysis; the time from the failing analysis to 100% of traffic on
// the previous version is reported (and recorded in bench/RESULTS.md).
func TestBakeRollsBackBadBlueGreen(t *testing.T) {
	dir := t.TempDir()
	svc := fmt.Sprintf(webService, sampleBin) + "    analysis: {interval: 300ms, min_requests: 20, max_error_rate: 0.05, bake: 30s}\n"
	d := startDaemon(t, servicesConfig(t, dir, svc, ""), true)
	c := api.DialSocket(d.SocketPath(), "test")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "web", "v1", "live")
	load := loadgen.Start(ctx, loadgen.Options{URL: "http://" + d.ProxyAddr(), Host: "web.test", Workers: 16, MaxRequests: 2_000_000})
	defer load.Stop()
	acc, err := c.Deploy(ctx, "web", api.DeployRequest{Version: "v2-errors"})
	if err != nil {
		t.Fatal(err)
	}
	// Health passes, traffic switches, the bake catches the errors: the
	// deploy's stream ends with the release rolled back.
	settle(ctx, t, c, acc.Release.ID, "rolled_back")
	ev := waitEvent(ctx, t, c, acc.Release.ID, "rollback", "automatic rollback")
	res := load.Stop()
	t.Logf("load: %s; failures by version: %v", res, res.FailedByVersion)
	t.Logf("first failing analysis -> 100%% on v1: %.3fms (%s)", ev.DurationMS, ev.Message)
	if n := res.FailedByVersion["v1"] + res.FailedByVersion[""]; n != 0 {
		t.Errorf("%d failed requests on the stable version", n)
	}
	rel, err := c.Release(ctx, acc.Release.ID)
	if err != nil || rel.Release.State != "rolled_back" || !strings.Contains(rel.Release.Analysis, "error_rate") {
		t.Fatalf("bad release: %+v (%v), want rolled_back with analysis", rel.Release, err)
	}
	st, _ := c.Status(ctx, "web")
	if st[0].Live == nil || st[0].Live.Version != "v1" {
		t.Fatalf("live = %+v, want v1", st[0].Live)
	}
	if code, v, _ := get(t, d, "web.test", "/"); code != 200 || v != "v1" {
		t.Fatalf("after automatic rollback: %d from %s", code, v)
	}
}

// TestMetricsEndpoint scrapes /metrics and finds per-version series.
func TestMetricsEndpoint(t *testing.T) {
	dir := t.TempDir()
	top := "  listen: 127.0.0.1:0\n  tokens: [{name: ci, token: 0123456789abcdef0123}]\n"
	full := servicesConfig(t, dir, fmt.Sprintf(webService, sampleBin), top)
	d := startDaemon(t, full, true)
	c := api.DialSocket(d.SocketPath(), "test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "web", "v1", "live")
	for i := 0; i < 20; i++ {
		get(t, d, "web.test", "/")
	}
	resp, err := http.Get("http://" + d.ControlAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`hotswap_requests_total{`, `service="web"`, `version="v1"`, `hotswap_request_duration_seconds_bucket{`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The API on the same listener needs the token.
	r2, err := http.Get("http://" + d.ControlAddr() + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusUnauthorized {
		t.Errorf("API without token: %d, want 401", r2.StatusCode)
	}
	tc := api.DialTCP("http://"+d.ControlAddr(), "0123456789abcdef0123")
	if st, err := tc.Status(ctx, "web"); err != nil || st[0].Live.Version != "v1" {
		t.Errorf("API with token: %+v %v", st, err)
	}
}

func mustDeploy(ctx context.Context, t testing.TB, c *api.Client, service, version, want string) api.Release {
	t.Helper()
	rel, _ := act(ctx, t, c, service, "deploy", version, want)
	return rel
}

// waitEvent polls a release's steps until one matches, with the test's deadline.
func waitEvent(ctx context.Context, t testing.TB, c *api.Client, id int64, step, contains string) api.Event {
	t.Helper()
	for ctx.Err() == nil {
		d, err := c.Release(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range d.Events {
			if e.Step == step && strings.Contains(e.Message, contains) {
				return e
			}
		}
		time.Sleep(20 * time.Millisecond) // polling an outside condition under ctx's deadline
	}
	t.Fatalf("no %s event containing %q before the deadline", step, contains)
	return api.Event{}
}
