package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/loadgen"
)

// TestRestartWithChangedHealthPath: the daemon restarts with a health path
// the running app fails (defect 2: recovery probed the live instance with
// the new check, removed it, and nothing served). Under load, across the
// restart: no request fails, the live instance is re-adopted as it is, and
// the new configuration is rolled out as a release of kind config that is
// refused with its reason while the old instance keeps serving.
func TestRestartWithChangedHealthPath(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two daemon processes under load")
	}
	dir := t.TempDir()
	svc := fmt.Sprintf(webService, sampleBin)
	cfgPath, sock := writeConfigFile(t, dir, svc)
	f, addr := inheritableListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := api.DialSocket(sock, "test")

	first := serveProcess(t, cfgPath, f)
	waitSocket(ctx, t, c)
	v1 := mustDeploy(ctx, t, c, "web", "v1", "live")

	load := loadgen.Start(ctx, loadgen.Options{URL: "http://" + addr, Host: "web.test",
		Workers: 8, SlowWorkers: 1, SlowMS: 500, MaxRequests: 2_000_000})
	defer load.Stop()
	served := func() uint64 { return liveRequests(ctx, c, "web") }
	waitFor(ctx, t, "traffic through the first daemon", func() bool { return served() > 200 })

	if err := first.Process.Signal(syscall.SIGTERM); err != nil { // ours: started above
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first daemon exited with %v", err)
	}
	// The edit: a health path the running app never answers in time.
	writeConfigFile(t, dir, strings.Replace(svc, "path: /health", "path: /slow?ms=5000", 1))
	second := serveProcess(t, cfgPath, f)
	defer func() {
		_ = second.Process.Signal(syscall.SIGTERM)
		_ = second.Wait()
		startDaemon(t, servicesConfig(t, dir, svc, ""), true) // adopt what outlived `serve` and stop it
	}()
	waitSocket(ctx, t, c)

	// The config release appears, is health-gated with the new check and
	// refused; v1's original instance serves throughout.
	var cfgRel api.Release
	waitFor(ctx, t, "a config release", func() bool {
		rels, err := c.Releases(ctx, "web", 5)
		if err != nil || len(rels) == 0 || rels[0].Kind != "config" {
			return false
		}
		cfgRel = rels[0]
		return true
	})
	got := settle(ctx, t, c, cfgRel.ID, "failed")
	if !strings.Contains(got.Error, "health") || !strings.Contains(got.Error, "/slow?ms=5000") {
		t.Errorf("the config release does not say why it was refused: %q", got.Error)
	}
	before := served()
	waitFor(ctx, t, "traffic after the refused config", func() bool { return served() > before+200 })
	res := load.Stop()
	t.Logf("load across the restart and the refused config: %s", res)
	if res.Failed != 0 {
		t.Errorf("%d requests failed:\n%s", res.Failed, strings.Join(res.Failures, "\n"))
	}
	st, err := c.Status(ctx, "web")
	if err != nil || st[0].Live == nil || st[0].Live.Version != "v1" || st[0].Live.Release != v1.ID {
		t.Fatalf("live after the refused config: %+v (%v), want v1's release %d", st, err, v1.ID)
	}
}

// liveRequests is how many requests the service's live version has served
// (0 while nothing is live or the daemon does not answer).
func liveRequests(ctx context.Context, c *api.Client, service string) uint64 {
	st, err := c.Status(ctx, service)
	if err != nil || len(st) == 0 || st[0].Live == nil {
		return 0
	}
	return st[0].Live.Traffic.Requests
}

// inheritableListener is a loopback proxy socket to hand to `hotswap serve`
// processes in turn (as systemd socket activation would): it outlives each.
func inheritableListener(t *testing.T) (*os.File, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr().String()
}

// serveProcess starts `hotswap serve` on cfgPath with the proxy socket f.
func serveProcess(t *testing.T, cfgPath string, f *os.File) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(hotswapBin, "serve", "-c", cfgPath, "--log-level", "warn")
	cmd.ExtraFiles = []*os.File{f} // fd 3 in the child
	cmd.Env = append(os.Environ(), "HOTSWAP_PROXY_FD=3")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestHungLiveReplacedEndToEnd: a live app that stops answering without
// exiting (SIGSTOP, as a deadlock would look) is replaced by the daemon
// within health.interval × healthy_threshold (each check bounded by
// health.timeout) plus the time a new instance has to become healthy
// (health.deadline), and the replacement serves.
func TestHungLiveReplacedEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "")
	d, c := daemonClient(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "web", "v1", "live")
	code, _, body := get(t, d, "web.test", "/pid")
	pid, err := strconv.Atoi(strings.TrimSpace(body))
	if code != 200 || err != nil {
		t.Fatalf("pid of the live app: %d %q", code, body)
	}
	before, err := c.Status(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil { // the app this test deployed
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	h := cfg.Services[0].Health
	bound := time.Duration(h.HealthyThreshold)*(h.Interval+h.Timeout) + h.Deadline + 5*time.Second // slack for a loaded machine
	bctx, bcancel := context.WithTimeout(ctx, bound)
	defer bcancel()
	for {
		st, err := c.Status(bctx, "web")
		if err == nil && st[0].Live != nil && st[0].Live.Addr != before[0].Live.Addr && st[0].Live.Health.Healthy {
			break
		}
		if bctx.Err() != nil {
			t.Fatalf("the hung live app was not replaced within %s: %+v", bound, st)
		}
		time.Sleep(50 * time.Millisecond) // polling an outside condition under a deadline
	}
	if code, v, _ := get(t, d, "web.test", "/"); code != 200 || v != "v1" {
		t.Fatalf("after the replacement: %d from %q", code, v)
	}
	rel, err := c.Release(ctx, before[0].Live.Release)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range rel.Events {
		found = found || (e.Step == "supervise" && strings.Contains(e.Message, "fails its health check"))
	}
	if !found {
		t.Errorf("no supervise event says the live app failed its health check: %+v", rel.Events)
	}
}
