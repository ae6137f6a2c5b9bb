package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/loadgen"
)

// TestDaemonRestartKeepsPort: the proxy socket is handed to `hotswap serve`
// (as systemd socket activation would); the daemon process is stopped with
// SIGTERM and a new one started on the same socket while clients keep
// sending requests. No request fails: connections queue in the kernel
// while no daemon accepts, and the app itself never stopped.
func TestDaemonRestartKeepsPort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two daemon processes under load")
	}
	dir := t.TempDir()
	cfgPath, sock := writeServeConfig(t, dir, fmt.Sprintf(webService, sampleBin))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	serve := func() *exec.Cmd {
		cmd := exec.Command(hotswapBin, "serve", "-c", cfgPath, "--log-level", "warn")
		cmd.ExtraFiles = []*os.File{f} // fd 3 in the child
		cmd.Env = append(os.Environ(), "HOTSWAP_PROXY_FD=3")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := api.DialSocket(sock, "test")

	first := serve()
	waitSocket(ctx, t, c)
	mustDeploy(ctx, t, c, "web", "v1", "live")

	load := loadgen.Start(ctx, loadgen.Options{URL: "http://" + ln.Addr().String(), Host: "web.test",
		Workers: 16, SlowWorkers: 2, SlowMS: 1000, Streams: 1, MaxRequests: 2_000_000})
	defer load.Stop()
	served := func() uint64 {
		st, err := c.Status(ctx, "web")
		if err != nil || st[0].Live == nil {
			return 0
		}
		return st[0].Live.Traffic.Requests
	}
	waitFor(ctx, t, "traffic through the first daemon", func() bool { return served() > 500 })

	if err := first.Process.Signal(syscall.SIGTERM); err != nil { // ours: started above
		t.Fatal(err)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first daemon exited with %v", err)
	}
	second := serve()
	defer func() {
		_ = second.Process.Signal(syscall.SIGTERM)
		_ = second.Wait()
		// The app outlives `serve` by design; adopt it and stop it.
		startDaemon(t, servicesConfig(t, dir, fmt.Sprintf(webService, sampleBin), ""), true)
	}()
	waitSocket(ctx, t, c)
	waitFor(ctx, t, "traffic through the second daemon", func() bool { return served() > 500 })
	res := load.Stop()
	t.Logf("load across the daemon restart: %s", res)
	if res.Failed != 0 {
		t.Errorf("%d requests failed across the restart:\n%s", res.Failed, strings.Join(res.Failures, "\n"))
	}
	if res.Versions["v1"] == 0 {
		t.Error("no response from v1")
	}
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	for ctx.Err() == nil {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling an outside condition under ctx's deadline
	}
	t.Fatalf("timed out waiting for %s", what)
}
