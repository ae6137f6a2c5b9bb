package daemon

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/webhook"
)

// TestGenericReplayAcrossRestart: a captured signed generic request sent
// again under a new delivery id after the daemon restarted, still inside
// its timestamp window, deploys nothing: the window is in the database.
func TestGenericReplayAcrossRestart(t *testing.T) {
	const secret = "generic-secret-0123456789"
	t.Setenv("HS_TEST_GENERIC_SECRET", secret)
	dir := t.TempDir()
	y := fmt.Sprintf(`state_dir: %q
proxy: {listen: 127.0.0.1:0}
control:
  socket: %q
  listen: 127.0.0.1:0
  tokens: [{name: ci, token: 0123456789abcdef0123}]
webhooks:
  generic: {secret_env: HS_TEST_GENERIC_SECRET, window: 5m}
services:
%s`, dir, dir+"/hs.sock", fmt.Sprintf(webService, sampleBin))
	cfg, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	body := []byte(`{"version":"v1"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := webhook.SignGeneric([]byte(secret), ts, body)
	send := func(d *Daemon, delivery string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.ControlAddr()+"/hooks/generic/web", bytes.NewReader(body))
		req.Header.Set(webhook.HeaderTimestamp, ts)
		req.Header.Set(webhook.HeaderSignature, sig)
		req.Header.Set(webhook.HeaderDelivery, delivery)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	releases := func(c *api.Client) int {
		rs, err := c.Releases(ctx, "web", 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}

	d1, err := New(ctx, cfg, Options{StopOnClose: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := d1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c := api.DialSocket(d1.SocketPath(), "test")
	if code := send(d1, "ci-delivery-1"); code != http.StatusAccepted {
		t.Fatalf("first delivery: %d, want 202", code)
	}
	rs, err := c.Releases(ctx, "web", 0)
	if err != nil || len(rs) != 1 {
		t.Fatalf("releases after the first delivery: %v %v", rs, err)
	}
	settle(ctx, t, c, rs[0].ID, "live")
	if err := d1.Close(ctx); err != nil {
		t.Fatal(err)
	}

	d2 := startDaemon(t, cfg, true)
	c = api.DialSocket(d2.SocketPath(), "test")
	code := send(d2, "attacker-new-id")
	if n := releases(c); n != 1 {
		t.Errorf("the replayed request (answered %d) after a restart created a release: %d releases, want 1", code, n)
	}
}
