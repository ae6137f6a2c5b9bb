package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/release"
)

// TestSigtermDuringDeploy: SIGTERM reaches `hotswap serve` while a deploy
// holds in preview and a CLI follows its event stream. The daemon exits 0
// well within its stop timeout, without "database is closed", saying what
// it waited for, and the release is recorded as ended (not left deploying).
func TestSigtermDuringDeploy(t *testing.T) {
	dir := t.TempDir()
	cfgPath, sock := writeServeConfig(t, dir, fmt.Sprintf(webService, sampleBin))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	serve, stderr := serveWithV1(ctx, t, cfgPath, sock)
	c := api.DialSocket(sock, "test")
	acc, err := c.Deploy(ctx, "web", api.DeployRequest{Version: "v2", Hold: true})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, c, acc.Release.ID, "preview", "holding")
	// A CLI follows the deploy: its stream is open when SIGTERM arrives.
	followed, following := make(chan error, 1), make(chan struct{})
	var once sync.Once
	go func() {
		_, err := c.Follow(ctx, acc.Release.ID, func(api.Event) { once.Do(func() { close(following) }) })
		followed <- err
	}()
	<-following

	t0 := time.Now()
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	werr := serve.Wait()
	took := time.Since(t0)
	log := stderr.String()
	t.Logf("serve exited after %s: %v", took, werr)
	if werr != nil {
		t.Errorf("serve exited with %v:\n%s", werr, log)
	}
	if took > 10*time.Second {
		t.Errorf("serve took %s to stop, want well within its 30s stop timeout (the deploy's stream must not hold it)", took)
	}
	if strings.Contains(log, "database is closed") {
		t.Errorf("serve wrote after closing its database:\n%s", log)
	}
	if !strings.Contains(log, "waiting for") {
		t.Errorf("serve did not say what it waited for:\n%s", log)
	}
	<-followed
	st, err := release.Open(ctx, filepath.Join(dir, "hotswap.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rel, err := st.GetRelease(ctx, acc.Release.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !rel.State.Ended() || rel.FinishedAt.IsZero() {
		t.Errorf("the interrupted deploy is %s, want it ended with a reason", rel.State)
	}
	t.Logf("interrupted deploy: %s (%s)", rel.State, rel.Error)
}

// TestSigtermWithStreamOnDrainingVersion: SIGTERM right after a switch,
// while a long stream still holds the old version in its drain and the
// drain timeout equals the stop timeout (as the defaults do): the stream
// uses up the requests' budget, yet the engine still records the drain's
// end before the store closes, and serve exits 0 within the stop timeout.
func TestSigtermWithStreamOnDrainingVersion(t *testing.T) {
	dir := t.TempDir()
	svc := strings.Replace(fmt.Sprintf(webService, sampleBin), "drain_timeout: 8s", "drain_timeout: 4s", 1)
	cfgPath, sock := writeServeConfig(t, dir, svc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	serve, stderr := serveWithV1(ctx, t, cfgPath, sock, "--stop-timeout", "4s")
	c := api.DialSocket(sock, "test")
	proxyAddr := proxyAddrFromLog(ctx, t, stderr)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+proxyAddr+"/stream?n=100000&ms=50", nil)
	req.Host = "web.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go io.Copy(io.Discard, resp.Body)          //nolint:errcheck // drained until the daemon closes it
	mustDeploy(ctx, t, c, "web", "v2", "live") // v1 now drains with the stream in flight

	t0 := time.Now()
	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	werr := serve.Wait()
	took := time.Since(t0)
	log := stderr.String()
	t.Logf("serve exited after %s: %v", took, werr)
	if werr != nil || strings.Contains(log, "database is closed") || strings.Contains(log, "close engine") {
		t.Errorf("serve exited with %v after %s:\n%s", werr, took, log)
	}
	if took > 8*time.Second {
		t.Errorf("serve took %s with a 4s stop timeout", took)
	}
}

// serveWithV1 starts `hotswap serve` (stopping its apps on exit, killed at
// the end of the test if still running) and deploys v1 of web.
func serveWithV1(ctx context.Context, t *testing.T, cfgPath, sock string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	stderr := &syncBuffer{}
	serve := exec.Command(hotswapBin, append([]string{"serve", "-c", cfgPath, "--stop-apps-on-exit"}, args...)...)
	serve.Stderr = stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serve.Process.Kill() }) // ours; a no-op once it exited
	c := api.DialSocket(sock, "test")
	waitSocket(ctx, t, c)
	mustDeploy(ctx, t, c, "web", "v1", "live")
	return serve, stderr
}

// proxyAddrFromLog reads the proxy's address from serve's "hotswap
// serving" line.
func proxyAddrFromLog(ctx context.Context, t *testing.T, stderr *syncBuffer) string {
	t.Helper()
	var addr string
	waitFor(ctx, t, "the serving line", func() bool {
		_, rest, ok := strings.Cut(stderr.String(), "hotswap serving\" proxy=")
		if !ok {
			return false
		}
		addr, _, _ = strings.Cut(rest, " ")
		return true
	})
	return addr
}

// syncBuffer is a bytes.Buffer a child process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
