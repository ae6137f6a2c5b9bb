package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/loadgen"
	"github.com/hotswap/hotswap/internal/runtime/docker"
	"github.com/hotswap/hotswap/internal/runtime/docker/dockertest"
)

// dockerService is a Docker service over the test images: each tag runs
// the sample app as that version. Parameters: name, name, image, network,
// warm_for, and the hooks block.
const dockerService = `  - name: %s
    hosts: [%s.test]
    runtime: docker
    docker:
      image: %s
      port: 3000
      network: %s
      reach: host
      keep_images: 10
    health: {path: /health, interval: 100ms, timeout: 1s, healthy_threshold: 2, deadline: 6s}
    drain_timeout: 8s
    stop_grace: 2s
    warm_for: %s
%s`

// migrationHook fails, like a failed migration, for versions containing
// "badmigration".
const migrationHook = `    hooks:
      pre_traffic: [[hook, --fail-for, badmigration]]
      timeout: 30s
`

// dockerFixture builds the test images for one service and removes every
// container, image and network of it when the test ends.
type dockerFixture struct {
	cli     *client.Client
	service string
	repo    string
	network string
	seen    map[string]bool // container IDs that have served; owned by the test goroutine
}

func newDockerFixture(t testing.TB, tags ...string) *dockerFixture {
	t.Helper()
	cli := dockertest.Engine(t) // skips, saying why, only when no engine answers
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000)
	f := &dockerFixture{cli: cli, service: "shop" + suffix, repo: "hotswap-e2e/shop" + suffix, network: "hotswap-e2e-" + suffix,
		seen: map[string]bool{}}
	for _, tag := range tags {
		dockertest.Image(t, cli, f.repo+":"+tag, "--version", tag)
	}
	t.Cleanup(func() {
		dockertest.RemoveContainers(t, cli, docker.LabelService, f.service)
		dockertest.RemoveContainers(t, cli, docker.LabelHook, f.service)
		dockertest.RemoveNetwork(t, cli, f.network)
	})
	return f
}

// services is this fixture's service block with warm_for and hooks.
func (f *dockerFixture) services(warmFor, hooks string) string {
	return fmt.Sprintf(dockerService, f.service, f.service, f.repo, f.network, warmFor, hooks)
}

func (f *dockerFixture) config(t testing.TB, dir string) *config.Config {
	return servicesConfig(t, dir, f.services("2m", migrationHook), "")
}

// containers lists this service's containers (by hotswap's label) with
// their version label and whether they run.
func (f *dockerFixture) containers(t testing.TB) map[string]string {
	t.Helper()
	res, err := f.cli.ContainerList(context.Background(), client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", docker.LabelService+"="+f.service)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range res.Items {
		out[c.Labels[docker.LabelVersion]+"/"+c.ID[:12]] = string(c.State)
	}
	return out
}

// TestDockerDeploysUnderLoad: real images on the real engine, deploys and
// rollbacks under load with zero failed requests; a crashing image, an
// unhealthy one, a failing migration and a missing tag are each refused with
// the live version serving and nothing left behind.
func TestDockerDeploysUnderLoad(t *testing.T) {
	f := newDockerFixture(t, "v1", "v2", "v3-crash", "v4-unhealthy", "v5-badmigration", "v6")
	dir := t.TempDir()
	cfg := f.config(t, dir)
	drain := cfg.Services[0].DrainTimeout
	d := startDaemon(t, cfg, true)
	c := api.DialSocket(d.SocketPath(), "e2e")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tl := newTimeline()
	svc := f.service

	t0 := time.Now()
	first := mustDeploy(ctx, t, c, svc, "v1", "live")
	tl.switched("v1", t0, time.Now(), first.FinishedAt, drain)
	if !strings.HasPrefix(first.ImageDigest, "sha256:") || first.ImageRef != f.repo+":v1" {
		t.Errorf("release records image %q digest %q, want the ref and its digest", first.ImageRef, first.ImageDigest)
	}

	load := loadgen.Start(ctx, loadgen.Options{URL: "http://" + d.ProxyAddr(), Host: svc + ".test",
		Workers: 32, SlowWorkers: 4, SlowMS: 1500, Streams: 1, MaxRequests: 5_000_000, Check: tl.observe, Cut: tl.cut})
	defer load.Stop()
	waitForTraffic(t, d, svc)

	steps := []struct {
		kind, version, want, live, why string
	}{
		{"deploy", "v2", "live", "v2", ""},
		{"deploy", "v3-crash", "failed", "v2", "exit code 3"},
		{"deploy", "v4-unhealthy", "failed", "v2", "503"},
		{"deploy", "v5-badmigration", "failed", "v2", "migration failed"},
		{"deploy", "v9", "failed", "v2", f.repo + ":v9"},
		{"rollback", "", "live", "v1", ""},   // v1 warm: pointer flip
		{"rollback", "v2", "live", "v2", ""}, // v2 stopped: its container is started again
		{"deploy", "v6", "live", "v6", ""},
	}
	for _, s := range steps {
		before := f.containers(t)
		t0 := time.Now()
		rel, _ := act(ctx, t, c, svc, s.kind, s.version, s.want)
		if s.want == "live" {
			tl.switched(rel.Version, t0, time.Now(), rel.FinishedAt, drain)
		}
		if s.why != "" && !strings.Contains(rel.Error+rel.HookOutput, s.why) {
			t.Errorf("%s %s failed without saying %q:\n%s", s.kind, s.version, s.why, rel.Error)
		}
		if s.want == "failed" {
			// Nothing left behind: the same containers as before.
			if after := f.containers(t); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("%s %s left containers changed:\nbefore %v\nafter  %v", s.kind, s.version, before, after)
			}
		}
		st, _ := c.Status(ctx, svc)
		if st[0].Live == nil || st[0].Live.Version != s.live {
			t.Fatalf("after %s %s: live %+v, want %s", s.kind, s.version, st[0].Live, s.live)
		}
	}
	res := load.Stop()
	t.Logf("load: %s", res)
	if res.Failed != 0 {
		t.Errorf("%d failed requests: %s", res.Failed, strings.Join(res.Failures, "\n"))
	}
	tl.checkCuts(t, res)
	if bad := tl.judge(); len(bad) != 0 {
		t.Errorf("%d responses from a version neither live nor draining, e.g. %+v", len(bad), bad[0])
	}
	for _, v := range []string{"v3-crash", "v4-unhealthy", "v5-badmigration"} {
		if res.Versions[v] != 0 {
			t.Errorf("%d responses from %s", res.Versions[v], v)
		}
	}
	// v1's container was stopped and kept: its output is still there.
	if l, err := c.Logs(ctx, svc, "v1", 20); err != nil || !strings.Contains(strings.Join(l.Lines, "\n"), "sampleapp v1 listening") {
		t.Errorf("logs of the stopped v1 container: %+v %v", l, err)
	}
}

// TestDockerCrashRecovery kills a real daemon process (SIGKILL) in the middle
// of a deploy, starts a new one on the same state, and checks by label that
// the live container is re-adopted, the warm one kept, and the interrupted
// deploy's container removed: nothing orphaned, nothing duplicated.
func TestDockerCrashRecovery(t *testing.T) {
	f := newDockerFixture(t, "v1", "v2", "v3-unhealthy")
	dir := t.TempDir()
	cfg := f.config(t, dir)
	cfgPath := filepath.Join(dir, "hotswap.yaml")
	yaml := fmt.Sprintf("state_dir: %q\nproxy: {listen: 127.0.0.1:0}\ncontrol: {socket: %q}\nservices:\n", dir, cfg.Control.Socket) +
		f.services("2m", migrationHook)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	proc := exec.Command(hotswapBin, "serve", "-c", cfgPath)
	proc.Stderr = os.Stderr
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = proc.Process.Signal(syscall.SIGKILL)
			_ = proc.Wait()
		}
	})
	c := api.DialSocket(cfg.Control.Socket, "test")
	waitSocket(ctx, t, c)
	mustDeploy(ctx, t, c, f.service, "v1", "live")
	live := mustDeploy(ctx, t, c, f.service, "v2", "live")
	acc, err := c.Deploy(ctx, f.service, api.DeployRequest{Version: "v3-unhealthy"})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, c, acc.Release.ID, "start", "started, app address")
	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = proc.Wait()
	killed = true
	crashed := f.containers(t)
	if len(crashed) != 3 {
		t.Fatalf("after the crash: containers %v, want v1, v2 and the interrupted v3", crashed)
	}

	d := startDaemon(t, cfg, true)
	if code, v, _ := get(t, d, f.service+".test", "/"); code != 200 || v != "v2" {
		t.Fatalf("right after recovery: %d from %q, want v2", code, v)
	}
	after := f.containers(t)
	running := map[string]int{}
	for k, state := range after {
		if state == "running" {
			running[strings.Split(k, "/")[0]]++
		}
	}
	if len(after) != 2 || running["v1"] != 1 || running["v2"] != 1 {
		t.Errorf("after recovery: containers %v, want exactly v1 (warm) and v2 (live) running", after)
	}
	st, err := d.Store().Live(ctx, f.service)
	if err != nil || st.InstanceID != live.InstanceID {
		t.Errorf("live instance after recovery %v (%v), want the re-adopted %s", st, err, live.InstanceID)
	}
	r3, err := d.Store().GetRelease(ctx, acc.Release.ID)
	if err != nil || r3.State != "failed" || !strings.Contains(r3.Error, "interrupted") {
		t.Errorf("interrupted release: %+v (%v), want failed/interrupted", r3, err)
	}
}

// waitSocket polls until the daemon answers on its socket.
func waitSocket(ctx context.Context, t *testing.T, c *api.Client) {
	t.Helper()
	for ctx.Err() == nil {
		if _, err := c.Status(ctx, ""); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling a starting process under ctx's deadline
	}
	t.Fatal("daemon did not answer before the deadline")
}
