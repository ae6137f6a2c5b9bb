package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
)

// getWith fetches / through the proxy with one extra header.
func getWith(t *testing.T, d *Daemon, host, header, value string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+d.ProxyAddr()+"/", nil)
	req.Host = host
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("X-Version")
}

// TestPreviewHoldPromoteAbort: a held deploy serves only preview requests
// until promoted; an aborted one is removed and never served the public.
func TestPreviewHoldPromoteAbort(t *testing.T) {
	dir := t.TempDir()
	d, c := daemonClient(t, testConfig(t, dir, ""))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "web", "v1", "live")

	acc, err := c.Deploy(ctx, "web", api.DeployRequest{Version: "v2", Hold: true})
	if err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(ctx, t, c, acc.Release.ID, "preview", "holding")
	secret := previewSecret(ctx, t, c, "web")
	if !strings.Contains(ev.Message, secret) {
		t.Errorf("deploy --hold's event %q does not show the generated secret", ev.Message)
	}
	for i := 0; i < 20; i++ {
		if v := getWith(t, d, "web.test", "", ""); v != "v1" {
			t.Fatalf("public request reached %s during preview", v)
		}
		if v := getWith(t, d, "web.test", "X-Hotswap-Preview", "1"); v != "v1" {
			t.Fatalf("preview request without the secret reached %s", v)
		}
		if v := getWith(t, d, "web.test", "X-Hotswap-Preview", secret); v != "v2" {
			t.Fatalf("preview request reached %s, want v2", v)
		}
	}
	if _, err := c.Promote(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	settle(ctx, t, c, acc.Release.ID, "live")
	if v := getWith(t, d, "web.test", "", ""); v != "v2" {
		t.Fatalf("after promote: %s", v)
	}

	acc, err = c.Deploy(ctx, "web", api.DeployRequest{Version: "v3", Hold: true})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, c, acc.Release.ID, "preview", "holding")
	second := previewSecret(ctx, t, c, "web")
	if second == secret {
		t.Error("two holds got the same generated secret")
	}
	if v := getWith(t, d, "web.test", "X-Hotswap-Preview", second); v != "v3" {
		t.Fatalf("preview reached %s, want v3", v)
	}
	if _, err := c.Abort(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	settle(ctx, t, c, acc.Release.ID, "aborted")
	if v := getWith(t, d, "web.test", "X-Hotswap-Preview", second); v != "v2" {
		t.Fatalf("after abort a preview request reached %s, want the live v2", v)
	}
}

// previewSecret reads the held version's preview secret from status.
func previewSecret(ctx context.Context, t *testing.T, c *api.Client, service string) string {
	t.Helper()
	st, err := c.Status(ctx, service)
	if err != nil || len(st) != 1 || len(st[0].PreviewSecret) < 16 {
		t.Fatalf("status %+v (%v): want a preview secret", st, err)
	}
	return st[0].PreviewSecret
}

// TestCanaryApprovalGate: with approval_before_last the canary waits after
// its last step until promoted.
func TestCanaryApprovalGate(t *testing.T) {
	dir := t.TempDir()
	svc := strings.Replace(fmt.Sprintf(canaryService, sampleBin, "200ms", "200ms"),
		"      sticky_cookie: shop_canary\n", "      sticky_cookie: shop_canary\n      approval_before_last: true\n", 1)
	d, c := daemonClient(t, servicesConfig(t, dir, svc, ""))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "shop", "v1", "live")
	acc, err := c.Deploy(ctx, "shop", api.DeployRequest{Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, c, acc.Release.ID, "approval", "waiting for approval")
	if st, _ := c.Status(ctx, "shop"); st[0].Live.Version != "v1" || st[0].Active == nil {
		t.Fatalf("while awaiting approval: %+v, want v1 live and the deploy active", st[0])
	}
	if _, err := c.Promote(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	settle(ctx, t, c, acc.Release.ID, "live")
	if v := getWith(t, d, "shop.test", "", ""); v != "v2" {
		t.Errorf("after approval: %s", v)
	}
}

// TestQueueSupersedes: deploys queued behind a running one run in order, and
// a newer queued version supersedes an older one, which history says.
func TestQueueSupersedes(t *testing.T) {
	dir := t.TempDir()
	d, c := daemonClient(t, testConfig(t, dir, ""))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "web", "v1", "live")
	slow, err := c.Deploy(ctx, "web", api.DeployRequest{Version: "v2-unhealthy"}) // runs for its 3 s deadline
	if err != nil {
		t.Fatal(err)
	}
	q3, err := c.Deploy(ctx, "web", api.DeployRequest{Version: "v3", Queue: true})
	if err != nil {
		t.Fatal(err)
	}
	q4, err := c.Deploy(ctx, "web", api.DeployRequest{Version: "v4", Queue: true})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Follow(ctx, slow.Release.ID, nil); r.State != "failed" {
		t.Fatalf("running deploy: %s", r.State)
	}
	r3, err := c.Follow(ctx, q3.Release.ID, nil)
	if err != nil || r3.State != "superseded" || !strings.Contains(r3.Error, "v4") {
		t.Errorf("older queued deploy: %s %q (%v), want superseded by v4", r3.State, r3.Error, err)
	}
	settle(ctx, t, c, q4.Release.ID, "live")
	if v := getWith(t, d, "web.test", "", ""); v != "v4" {
		t.Errorf("live: %s", v)
	}
}

// TestSlowNotificationDoesNotDelayDeploys: a notification receiver that
// never answers (until the test ends) and one that is down do not hold up
// deploys; a working receiver gets the events with their payloads.
func TestSlowNotificationDoesNotDelayDeploys(t *testing.T) {
	unblock := make(chan struct{})
	var mu sync.Mutex
	var got []map[string]any
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-unblock:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	defer good.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	defer close(unblock)

	top := fmt.Sprintf("notify:\n  - {kind: webhook, url: %q}\n  - {kind: webhook, url: %q}\n  - {kind: webhook, url: %q}\n", slow.URL, downURL, good.URL)
	dir := t.TempDir()
	_, c := daemonClient(t, rootConfig(t, dir, fmt.Sprintf(webService, sampleBin), top))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The slow receiver is still holding its first request when these finish.
	mustDeploy(ctx, t, c, "web", "v1", "live")
	mustDeploy(ctx, t, c, "web", "v2", "live")
	mustDeploy(ctx, t, c, "web", "v3-crash", "failed")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 6 {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the receiver under a deadline
	}
	mu.Lock()
	defer mu.Unlock()
	kinds := map[string]int{}
	for _, ev := range got {
		kinds[fmt.Sprint(ev["kind"])]++
	}
	if kinds["deploy.started"] != 3 || kinds["deploy.succeeded"] != 2 || kinds["deploy.failed"] != 1 {
		t.Errorf("working receiver got %v (%d events), want 3 started, 2 succeeded, 1 failed", kinds, len(got))
	}
}

// TestCanaryAbort: abort during a canary step sends every request back to
// the live version at once and removes the canary.
func TestCanaryAbort(t *testing.T) {
	dir := t.TempDir()
	d, c := daemonClient(t, servicesConfig(t, dir, fmt.Sprintf(canaryService, sampleBin, "1m", "1m"), ""))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "shop", "v1", "live")
	acc, err := c.Deploy(ctx, "shop", api.DeployRequest{Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, c, acc.Release.ID, "canary", "step 1/2")
	if share := canaryShare(t, d, "v2", 2000); share < 5 {
		t.Fatalf("canary share %.1f%% before the abort: the step is not running", share)
	}
	if _, err := c.Abort(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	settle(ctx, t, c, acc.Release.ID, "aborted")
	if share := canaryShare(t, d, "v2", 2000); share != 0 {
		t.Errorf("after abort v2 still gets %.1f%% of requests", share)
	}
	if st, _ := c.Status(ctx, "shop"); st[0].Live.Version != "v1" || st[0].Active != nil {
		t.Errorf("after abort: %+v, want v1 live and nothing running", st[0])
	}
}
