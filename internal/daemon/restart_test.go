package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
)

// TestRestartReadoptsOrRestarts: a daemon restart keeps the history and puts
// the live version back in service before the proxy accepts traffic —
// re-adopting the process that still runs, or starting it when it is gone.
func TestRestartReadoptsOrRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// 1. v1 then v2 under a daemon that leaves its apps running on close.
	d1, err := New(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c := api.DialSocket(d1.SocketPath(), "test")
	do(ctx, t, c, action{"deploy", "v1", "live", "v1"})
	do(ctx, t, c, action{"deploy", "v2", "live", "v2"})
	live1, err := d1.Store().Live(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if err := d1.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	// The app outlived the daemon.
	if resp, err := http.Get("http://" + live1.Addr + "/"); err != nil {
		t.Fatalf("v2 did not outlive the daemon: %v", err)
	} else {
		resp.Body.Close()
	}

	// 2. A new daemon re-adopts the running v2: same instance, served at once.
	d2, err := New(ctx, cfg, Options{StopOnClose: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if code, v, _ := get(t, d2, "web.test", "/"); code != 200 || v != "v2" {
		t.Fatalf("right after restart: %d from %q, want 200 from v2", code, v)
	}
	live2, err := d2.Store().Live(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if live2.ID != live1.ID || live2.InstanceID != live1.InstanceID {
		t.Errorf("live after restart = release %d instance %s, want the re-adopted %d %s", live2.ID, live2.InstanceID, live1.ID, live1.InstanceID)
	}
	st, err := d2.Engine().Status(ctx, "web")
	if err != nil || st[0].Warm == nil || st[0].Warm.Version != "v1" {
		t.Errorf("warm after restart = %+v (%v), want v1 still warm", st, err)
	}
	rels, err := d2.Store().ListReleases(ctx, "web", 10)
	if err != nil || len(rels) != 2 {
		t.Fatalf("history after restart: %d releases (%v), want 2", len(rels), err)
	}
	// Closing with StopOnClose stops both apps: the next daemon finds them gone.
	if err := d2.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if resp, err := http.Get("http://" + live1.Addr + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("v2 still answers after a stopping close")
	}

	// 3. The live app is gone: the daemon starts v2 again before serving.
	d3 := startDaemon(t, cfg, true)
	if code, v, _ := get(t, d3, "web.test", "/"); code != 200 || v != "v2" {
		t.Fatalf("after restart with the app gone: %d from %q, want 200 from v2", code, v)
	}
	live3, _ := d3.Store().Live(ctx, "web")
	if live3.InstanceID == live1.InstanceID {
		t.Error("instance id unchanged although the app had to be started again")
	}
	c3 := api.DialSocket(d3.SocketPath(), "test")
	detail, err := c3.Release(ctx, live3.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !hasEvent(detail, "recover", "started it again") {
		t.Errorf("no recover event saying v2 was started again: %+v", detail.Events)
	}
}

func hasEvent(d api.ReleaseDetail, step, contains string) bool {
	for _, e := range d.Events {
		if e.Step == step && strings.Contains(e.Message, contains) {
			return true
		}
	}
	return false
}

// TestBadInputChangesNothing: every refusal is clear, has its own code, and
// leaves the live version serving with the history untouched.
func TestBadInputChangesNothing(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, testConfig(t, dir, ""), true)
	c := api.DialSocket(d.SocketPath(), "test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	do(ctx, t, c, action{"deploy", "v1", "live", "v1"})

	// A deploy that runs for a while (never healthy, 3 s deadline) …
	slow, err := c.Deploy(ctx, "web", api.DeployRequest{Version: "v2-unhealthy"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"second deploy while one runs", func() error {
			_, err := c.Deploy(ctx, "web", api.DeployRequest{Version: "v3"})
			return err
		}, api.CodeBusy},
		{"unknown service", func() error {
			_, err := c.Deploy(ctx, "nope", api.DeployRequest{Version: "v3"})
			return err
		}, api.CodeNotFound},
		{"malformed version", func() error {
			_, err := c.Deploy(ctx, "web", api.DeployRequest{Version: "v3; rm -rf /"})
			return err
		}, api.CodeInvalid},
		{"rollback to a version never deployed", func() error {
			_, err := c.Rollback(ctx, "web", api.RollbackRequest{Version: "v99"})
			return err
		}, api.CodeNotFound},
		{"rollback to a malformed version", func() error {
			_, err := c.Rollback(ctx, "web", api.RollbackRequest{Version: "../../etc"})
			return err
		}, api.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !api.IsCode(err, tt.code) {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
			if code, v, _ := get(t, d, "web.test", "/"); code != 200 || v != "v1" {
				t.Fatalf("after refusal: %d from %s, want 200 from v1", code, v)
			}
		})
	}
	rel := settle(ctx, t, c, slow.Release.ID, "failed")
	if !strings.Contains(rel.Error, "health") || !strings.Contains(rel.Error, "output lines") {
		t.Errorf("failure does not say why with the instance's output:\n%s", rel.Error)
	}
	// (While a deploy runs, a rollback to the live version ends it; see
	// TestRollbackAtAnyMoment.) With none running it is a conflict.
	if _, err := c.Rollback(ctx, "web", api.RollbackRequest{Version: "v1"}); !api.IsCode(err, api.CodeConflict) {
		t.Errorf("rollback to the live version: err = %v, want code %s", err, api.CodeConflict)
	}
	rels, _ := c.Releases(ctx, "web", 10)
	if len(rels) != 2 {
		t.Errorf("%d releases recorded, want 2 (refused requests record none)", len(rels))
	}
	if code, v, _ := get(t, d, "web.test", "/"); code != 200 || v != "v1" {
		t.Fatalf("after the failed deploy: %d from %s, want v1", code, v)
	}
	if code, _, body := get(t, d, "unknown.test", "/"); code != 404 || !strings.Contains(body, "unknown.test") {
		t.Errorf("unknown host: %d %q, want 404 naming the host", code, body)
	}
	if code, _, _ := get(t, d, "anything.test", "/_hotswap/up"); code != 200 {
		t.Errorf("proxy health endpoint: %d, want 200 on any host", code)
	}
	fi, err := os.Stat(d.SocketPath())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

// TestRetentionSparesDrainingInstances: a long stream on v1 outlives six
// more deploys, which push v1 beyond the kept releases while it is still
// draining. Retention must wait for the drain: the stream ends complete.
func TestRetentionSparesDrainingInstances(t *testing.T) {
	dir := t.TempDir()
	svc := strings.Replace(fmt.Sprintf(webService, sampleBin), "warm_for: 1m", "warm_for: 0s", 1)
	d, c := daemonClient(t, servicesConfig(t, dir, svc, ""))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "web", "v1", "live")

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.ProxyAddr()+"/stream?n=60&ms=50", nil)
	req.Host = "web.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.Header.Get("X-Version") != "v1" {
		t.Fatalf("stream: %v %v", err, resp)
	}
	defer resp.Body.Close()
	for _, v := range []string{"v2", "v3", "v4", "v5", "v6", "v7"} {
		mustDeploy(ctx, t, c, "web", v, "live")
	}
	body, err := io.ReadAll(resp.Body)
	if n := strings.Count(string(body), "data: "); err != nil || n != 60 {
		t.Fatalf("stream on v1 ended after %d of 60 events (%v): cut while draining", n, err)
	}
}

// TestSupervisorRestartsCrashedLive: when the live instance dies (killed
// like an OOM kill would), the daemon starts the same version again, gates
// it on health and swaps it in; the release records both instances.
func TestSupervisorRestartsCrashedLive(t *testing.T) {
	dir := t.TempDir()
	d, c := daemonClient(t, testConfig(t, dir, ""))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rel := mustDeploy(ctx, t, c, "web", "v1", "live")
	code, _, body := get(t, d, "web.test", "/pid")
	pid, err := strconv.Atoi(strings.TrimSpace(body))
	if code != 200 || err != nil {
		t.Fatalf("/pid: %d %q", code, body)
	}
	// This process was started by the daemon this test runs: ours to kill.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, c, rel.ID, "supervise", "serving again")
	code, v, body := get(t, d, "web.test", "/pid")
	if code != 200 || v != "v1" || strings.TrimSpace(body) == strconv.Itoa(pid) {
		t.Fatalf("after the restart: %d from %s pid %s, want v1 from a new process", code, v, body)
	}
	detail, err := c.Release(ctx, rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !hasEvent(detail, "supervise", "signal SIGKILL") || detail.Release.InstanceID == rel.InstanceID {
		t.Errorf("release does not record the crash and the new instance: %+v", detail)
	}
	if detail.Release.State != "live" {
		t.Errorf("state %s, want live", detail.Release.State)
	}
}
