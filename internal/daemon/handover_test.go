package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/certs/certstest"
	"github.com/hotswap/hotswap/internal/loadgen"
)

// TestDaemonRestartKeepsPort: the proxy socket is handed to `hotswap serve`
// (as systemd socket activation would); the daemon process is stopped with
// SIGTERM and a new one started on the same socket while clients keep
// sending requests. No request fails: connections queue in the kernel
// while no daemon accepts, and the app itself never stopped.
func TestDaemonRestartKeepsPort(t *testing.T) {
	restartKeepsPorts(t, false)
}

// TestDaemonRestartKeepsHTTPSPort: the same with the HTTPS socket handed
// over too (HOTSWAP_HTTPS_FD) and HTTPS clients, HTTP/1.1 and HTTP/2.
func TestDaemonRestartKeepsHTTPSPort(t *testing.T) {
	restartKeepsPorts(t, true)
}

func restartKeepsPorts(t *testing.T, https bool) {
	if testing.Short() {
		t.Skip("runs two daemon processes under load")
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hotswap.yaml")
	sock := filepath.Join(dir, "hs.sock")
	proxyYAML := "proxy: {listen: 127.0.0.1:0}\n"
	var roots *x509.CertPool
	if https {
		ca := certstest.NewCA(t, "restart CA")
		cert, key, _ := ca.Issue(t, dir, "web", 24*time.Hour, "web.test")
		roots = ca.Pool()
		proxyYAML = fmt.Sprintf("proxy:\n  listen: 127.0.0.1:0\n  tls:\n    listen: 127.0.0.1:0\n    certificates: [{cert: %q, key: %q}]\n", cert, key)
	}
	yaml := fmt.Sprintf("state_dir: %q\n%scontrol: {socket: %q}\nservices:\n%s",
		dir, proxyYAML, sock, fmt.Sprintf(webService, sampleBin))
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	var addrs []string
	for i := 0; i < map[bool]int{false: 1, true: 2}[https]; i++ {
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
		files, addrs = append(files, f), append(addrs, ln.Addr().String())
	}
	serve := func() *exec.Cmd {
		cmd := exec.Command(hotswapBin, "serve", "-c", cfgPath, "--log-level", "warn")
		cmd.ExtraFiles = files // fd 3 (and 4) in the child
		cmd.Env = append(os.Environ(), "HOTSWAP_PROXY_FD=3", "HOTSWAP_HTTPS_FD=4")
		if !https {
			cmd.Env = cmd.Env[:len(cmd.Env)-1]
		}
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

	loads := map[string]*loadgen.Background{"http": loadgen.Start(ctx, loadgen.Options{URL: "http://" + addrs[0], Host: "web.test",
		Workers: 16, SlowWorkers: 2, SlowMS: 1000, Streams: 1, MaxRequests: 2_000_000})}
	if https {
		tc := &tls.Config{ServerName: "web.test", RootCAs: roots}
		loads["https/1.1"] = loadgen.Start(ctx, loadgen.Options{URL: "https://" + addrs[1], Host: "web.test", TLS: tc,
			Workers: 4, SlowWorkers: 1, SlowMS: 1000, Streams: 1, WebSockets: 1, MaxRequests: 2_000_000})
		loads["https/2"] = loadgen.Start(ctx, loadgen.Options{URL: "https://" + addrs[1], Host: "web.test", TLS: tc, HTTP2: true,
			Workers: 4, SlowWorkers: 1, SlowMS: 1000, MaxRequests: 2_000_000})
	}
	for _, l := range loads {
		defer l.Stop()
	}
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
	for name, l := range loads {
		res := l.Stop()
		t.Logf("%s load across the daemon restart: %s", name, res)
		if res.Failed != 0 {
			t.Errorf("%s: %d requests failed across the restart:\n%s", name, res.Failed, strings.Join(res.Failures, "\n"))
		}
		if res.Versions["v1"] == 0 {
			t.Errorf("%s: no response from v1", name)
		}
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
