package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/loadgen"
	"github.com/hotswap/hotswap/internal/webhook"
)

// namedService is webService under another name and host.
func namedService(name string) string {
	return strings.NewReplacer("name: web", "name: "+name, "hosts: [web.test]", "hosts: ["+name+".test]").Replace(fmt.Sprintf(webService, sampleBin))
}

// TestReloadAddsRemovesAndGatesConfig: `hotswap reload` (POST /v1/reload)
// under load on a service whose configuration does not change. Adding a
// service routes it; removing one answers 404 for it and retires its
// release; an invalid file changes nothing and names file:line:col and
// key; a changed health check is rolled out as a release of kind config
// and refused while the old instance keeps serving. The untouched
// service's requests never fail and its streams are never cut.
func TestReloadAddsRemovesAndGatesConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end load test")
	}
	dir := t.TempDir()
	write := func(services string) *config.Config {
		path, _ := writeConfigFile(t, dir, services)
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("config: %v", err)
		}
		return cfg
	}
	web := fmt.Sprintf(webService, sampleBin)
	cfg := write(web + namedService("api"))
	path := filepath.Join(dir, "hotswap.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := New(ctx, cfg, Options{Log: log, StopOnClose: true, ShutdownTimeout: 10 * time.Second, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		d.Close(cctx)
	})
	c := api.DialSocket(d.SocketPath(), "test")
	mustDeploy(ctx, t, c, "web", "v1", "live")
	apiRel := mustDeploy(ctx, t, c, "api", "v1", "live")

	load := loadgen.Start(ctx, loadgen.Options{URL: "http://" + d.ProxyAddr(), Host: "web.test",
		Workers: 8, SlowWorkers: 2, SlowMS: 1000, Streams: 2, MaxRequests: 2_000_000})
	defer load.Stop()
	waitForTraffic(t, d, "web")

	// 1. Add shop, remove api; web is unchanged.
	write(web + namedService("shop"))
	res, err := c.Reload(ctx)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if fmt.Sprint(res.Added, res.Removed, res.Unchanged, len(res.Updated)) != "[shop] [api] [web] 0" {
		t.Fatalf("reload result %+v", res)
	}
	mustDeploy(ctx, t, c, "shop", "v2", "live")
	if code, v, _ := get(t, d, "shop.test", "/"); code != 200 || v != "v2" {
		t.Errorf("added service: %d from %q", code, v)
	}
	if code, _, _ := get(t, d, "api.test", "/"); code != 404 {
		t.Errorf("removed service answers %d, want 404", code)
	}
	waitFor(ctx, t, "the removed service's release to retire", func() bool {
		r, err := d.Store().GetRelease(ctx, apiRel.ID)
		return err == nil && r.State == "retired"
	})

	// 2. An invalid file: nothing changes, the error names where.
	writeConfigFile(t, dir, strings.Replace(web, "interval: 50ms", "interval: fast", 1))
	_, err = c.Reload(ctx)
	if !api.IsCode(err, api.CodeInvalid) || !strings.Contains(err.Error(), path+":") || !strings.Contains(err.Error(), "services[0].health.interval") {
		t.Fatalf("invalid reload: %v, want code invalid naming %s:line:col and the key", err, path)
	}
	if code, v, _ := get(t, d, "shop.test", "/"); code != 200 || v != "v2" {
		t.Errorf("after the refused reload shop answers %d from %q", code, v)
	}

	// 3. A health path the app fails: a config release, refused; v1 serves on.
	write(strings.Replace(web, "path: /health", "path: /slow?ms=5000", 1) + namedService("shop"))
	res, err = c.Reload(ctx)
	if err != nil || len(res.Updated) != 1 || res.Updated[0].Service != "web" || res.Updated[0].ConfigRelease == 0 {
		t.Fatalf("reload with a changed health path: %+v, %v", res, err)
	}
	got := settle(ctx, t, c, res.Updated[0].ConfigRelease, "failed")
	if got.Kind != "config" || !strings.Contains(got.Error, "/slow?ms=5000") {
		t.Errorf("config release %s: %q", got.Kind, got.Error)
	}

	st, err := c.Status(ctx, "web")
	if err != nil || st[0].Live == nil || st[0].Live.Version != "v1" {
		t.Fatalf("web after the reloads: %+v %v", st, err)
	}
	res2 := load.Stop()
	t.Logf("load on the untouched service: %s", res2)
	if res2.Failed != 0 {
		t.Errorf("%d requests to the untouched service failed (streams cut count as failures):\n%s", res2.Failed, strings.Join(res2.Failures, "\n"))
	}
	if res2.StreamEvents == 0 {
		t.Error("no stream ran")
	}
}

// TestReloadedServiceTakesWebhooks: a service added by a reload is known to
// the webhook endpoints at once (they consult the current service set), and
// a removed one no more.
func TestReloadedServiceTakesWebhooks(t *testing.T) {
	t.Setenv("HS_TEST_HOOK_SECRET", "s3cret-for-the-test")
	t.Setenv("HS_TEST_TOKEN", "token-for-the-test")
	dir := t.TempDir()
	top := "control: {socket: %q, listen: 127.0.0.1:0, tokens: [{name: ci, token_env: HS_TEST_TOKEN}]}\nwebhooks: {generic: {secret_env: HS_TEST_HOOK_SECRET}}\n"
	write := func(services string) *config.Config {
		path := filepath.Join(dir, "hotswap.yaml")
		y := fmt.Sprintf("state_dir: %q\nproxy: {listen: 127.0.0.1:0}\n"+top+"services:\n%s", dir, filepath.Join(dir, "hs.sock"), services)
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("config: %v", err)
		}
		return cfg
	}
	web := fmt.Sprintf(webService, sampleBin)
	d := startDaemon(t, write(web), true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hook := func(service string) int {
		body := []byte(`{"version":"v1"}`)
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.ControlAddr()+"/hooks/generic/"+service, bytes.NewReader(body))
		req.Header.Set(webhook.HeaderTimestamp, ts)
		req.Header.Set(webhook.HeaderSignature, webhook.SignGeneric([]byte("s3cret-for-the-test"), ts, body))
		req.Header.Set(webhook.HeaderDelivery, "d-"+service+"-"+ts)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := hook("shop"); code != http.StatusNotFound {
		t.Fatalf("webhook for a service not configured yet: %d, want 404", code)
	}
	if _, err := d.ReloadConfig(ctx, write(web+namedService("shop"))); err != nil {
		t.Fatal(err)
	}
	if code := hook("shop"); code != http.StatusAccepted {
		t.Fatalf("webhook for the added service: %d, want 202", code)
	}
	if _, err := d.ReloadConfig(ctx, write(web)); err != nil {
		t.Fatal(err)
	}
	if code := hook("shop"); code != http.StatusNotFound {
		t.Fatalf("webhook for the removed service: %d, want 404", code)
	}
}

// TestReloadAppliesProxySettings: the proxy's per-request settings change
// on reload (here the readiness path moves), atomically and without a
// restart; a listener setting is refused, naming the key, and changes
// nothing.
func TestReloadAppliesProxySettings(t *testing.T) {
	dir := t.TempDir()
	write := func(proxyExtra string) *config.Config {
		path := filepath.Join(dir, "hotswap.yaml")
		y := fmt.Sprintf("state_dir: %q\nproxy: {listen: 127.0.0.1:0%s}\ncontrol: {socket: %q}\nservices:\n%s",
			dir, proxyExtra, filepath.Join(dir, "hs.sock"), fmt.Sprintf(webService, sampleBin))
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("config: %v", err)
		}
		return cfg
	}
	d := startDaemon(t, write(""), true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code, _, _ := get(t, d, "any.test", "/_hotswap/ready"); code != http.StatusServiceUnavailable {
		t.Fatalf("default ready path with nothing live: %d, want 503", code)
	}
	res, err := d.ReloadConfig(ctx, write(", ready_path: /lb-ready"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Proxy || len(res.Unchanged) != 1 {
		t.Fatalf("reload result %+v: want the proxy settings applied and the service untouched", res)
	}
	if code, _, _ := get(t, d, "any.test", "/lb-ready"); code != http.StatusServiceUnavailable {
		t.Fatalf("new ready path after reload: %d, want 503 (served by the proxy, nothing live)", code)
	}
	if code, _, _ := get(t, d, "any.test", "/_hotswap/ready"); code == http.StatusServiceUnavailable {
		t.Fatal("the old ready path is still answered by the proxy after the reload")
	}

	_, err = d.ReloadConfig(ctx, write(", ready_path: /other, read_header_timeout: 3s"))
	if err == nil || !strings.Contains(err.Error(), "proxy.read_header_timeout") {
		t.Fatalf("reload changing a listener setting: %v, want a refusal naming proxy.read_header_timeout", err)
	}
	if code, _, _ := get(t, d, "any.test", "/lb-ready"); code != http.StatusServiceUnavailable {
		t.Fatalf("a refused reload changed the proxy: /lb-ready answered %d", code)
	}
}
