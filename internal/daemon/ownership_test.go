package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/loadgen"
	"github.com/hotswap/hotswap/internal/release"
	"github.com/hotswap/hotswap/internal/runtime/docker"
	"github.com/hotswap/hotswap/internal/runtime/docker/dockertest"
)

// TestTwoDaemonsOneDockerHost: staging and production on one host, each
// with its own state directory and port, both running a service of the same
// name. Starting (and deploying with, and closing) the second daemon leaves
// every container of the first — live, warm and kept — as it was, and the
// first one's traffic sees no failed request.
func TestTwoDaemonsOneDockerHost(t *testing.T) {
	f := newDockerFixture(t, "v1", "v2", "v3")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	prodDir := filepath.Join(t.TempDir(), "prod")
	prod := startDaemon(t, servicesConfig(t, prodDir, f.services("2m", ""), ""), true)
	pc := api.DialSocket(prod.SocketPath(), "prod")
	mustDeploy(ctx, t, pc, f.service, "v1", "live")
	mustDeploy(ctx, t, pc, f.service, "v2", "live")
	mustDeploy(ctx, t, pc, f.service, "v3", "live") // v2 warm, v1 stopped and kept
	var before map[string]string
	waitFor(ctx, t, "production's v1 stopped and kept", func() bool {
		before = f.containers(t)
		exited := 0
		for _, state := range before {
			if state == "exited" {
				exited++
			}
		}
		return len(before) == 3 && exited == 1
	})

	load := loadgen.Start(ctx, loadgen.Options{URL: "http://" + prod.ProxyAddr(), Host: f.service + ".test",
		Workers: 4, MaxRequests: 1_000_000})
	defer load.Stop()

	stagingDir := filepath.Join(t.TempDir(), "staging")
	staging := startDaemon(t, servicesConfig(t, stagingDir, f.services("2m", ""), ""), true)
	sc := api.DialSocket(staging.SocketPath(), "staging")
	mustDeploy(ctx, t, sc, f.service, "v1", "live")
	if code, v, _ := get(t, staging, f.service+".test", "/"); code != 200 || v != "v1" {
		t.Errorf("staging serves %d from %q, want 200 from v1", code, v)
	}
	cctx, ccancel := context.WithTimeout(ctx, time.Minute)
	if err := staging.Close(cctx); err != nil { // stops staging's apps (StopOnClose)
		t.Errorf("close staging: %v", err)
	}
	ccancel()

	res := load.Stop()
	t.Logf("production traffic while staging started, deployed and stopped: %s", res)
	if res.Failed != 0 {
		t.Errorf("%d production requests failed:\n%s", res.Failed, strings.Join(res.Failures, "\n"))
	}
	if res.Versions["v3"] == 0 {
		t.Error("no production response from v3")
	}
	after := f.containers(t)
	for k, state := range before {
		if after[k] != state {
			t.Errorf("production container %s was %s before staging, now %q", k, state, after[k])
		}
	}
	st, err := pc.Status(ctx, f.service)
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Live == nil || st[0].Live.Version != "v3" || st[0].Warm == nil || st[0].Warm.Version != "v2" {
		t.Errorf("production status after staging: %+v, want v3 live and v2 warm", st[0])
	}
}

// TestSecondServeRefusedDuringDeploy: `hotswap serve` started by hand on
// the state directory of a running daemon, while that daemon holds a
// deploy in preview, exits at once naming the daemon's PID and changes
// nothing: the deploy's instance keeps running and is promoted to live.
func TestSecondServeRefusedDuringDeploy(t *testing.T) {
	dir := t.TempDir()
	cfgPath, _ := writeServeConfig(t, dir, fmt.Sprintf(webService, sampleBin))
	d, c := daemonClient(t, servicesConfig(t, dir, fmt.Sprintf(webService, sampleBin), ""))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "web", "v1", "live")
	acc, err := c.Deploy(ctx, "web", api.DeployRequest{Version: "v2", Hold: true})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, c, acc.Release.ID, "preview", "holding")

	var stderr bytes.Buffer
	second := exec.CommandContext(ctx, hotswapBin, "serve", "-c", cfgPath)
	second.Stderr = &stderr
	err = second.Run()
	if err == nil {
		t.Fatal("a second serve on the same state directory started")
	}
	msg := stderr.String()
	if !strings.Contains(msg, "in use by process "+strconv.Itoa(os.Getpid())) {
		t.Errorf("second serve said %q, want it to name the PID holding the state directory (%d)", msg, os.Getpid())
	}
	if strings.Contains(msg, "recover") || strings.Contains(msg, "removed") {
		t.Errorf("second serve touched state before refusing: %q", msg)
	}

	if _, err := c.Promote(ctx, "web"); err != nil {
		t.Fatalf("promote after the refused serve: %v", err)
	}
	settle(ctx, t, c, acc.Release.ID, "live")
	if code, v, _ := get(t, d, "web.test", "/"); code != 200 || v != "v2" {
		t.Errorf("after promote: %d from %q, want 200 from v2", code, v)
	}
}

// TestKilledHookLeavesNoContainer: the daemon is killed (SIGKILL) while a
// pre-traffic hook runs in its one-off container; the next start removes
// that container and records the deploy as interrupted.
func TestKilledHookLeavesNoContainer(t *testing.T) {
	f := newDockerFixture(t, "v1")
	dir := t.TempDir()
	hooks := "    hooks:\n      pre_traffic: [[hook, --sleep, 5m]]\n      timeout: 10m\n"
	cfgPath, sock := writeServeConfig(t, dir, f.services("2m", hooks))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serve := exec.Command(hotswapBin, "serve", "-c", cfgPath, "--log-level", "warn")
	serve.Stderr = os.Stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	c := api.DialSocket(sock, "test")
	waitSocket(ctx, t, c)
	acc, err := c.Deploy(ctx, f.service, api.DeployRequest{Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	hookContainers := func() []string {
		ids, err := dockertest.Containers(ctx, f.cli, docker.LabelHook, f.service)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	waitFor(ctx, t, "the hook container", func() bool { return len(hookContainers()) == 1 })
	if err := serve.Process.Kill(); err != nil { // ours: started above
		t.Fatal(err)
	}
	_ = serve.Wait()
	if n := len(hookContainers()); n != 1 {
		t.Fatalf("%d hook containers right after the kill, want the orphan", n)
	}

	d := startDaemon(t, servicesConfig(t, dir, f.services("2m", hooks), ""), true)
	if ids := hookContainers(); len(ids) != 0 {
		t.Errorf("hook containers left after the restart: %v", ids)
	}
	rel, err := d.Store().GetRelease(ctx, acc.Release.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rel.State != release.Failed || !strings.Contains(rel.Error, "interrupted") {
		t.Errorf("the killed deploy is %s (%q), want failed: interrupted", rel.State, rel.Error)
	}
}
