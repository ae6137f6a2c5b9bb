package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
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
	var stderr bytes.Buffer
	serve := exec.Command(hotswapBin, "serve", "-c", cfgPath, "--stop-apps-on-exit")
	serve.Stderr = &stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill() // ours; a no-op once it exited
	c := api.DialSocket(sock, "test")
	waitSocket(ctx, t, c)
	mustDeploy(ctx, t, c, "web", "v1", "live")
	acc, err := c.Deploy(ctx, "web", api.DeployRequest{Version: "v2", Hold: true})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(ctx, t, c, acc.Release.ID, "preview", "holding")
	followed := make(chan error, 1)
	go func() { _, err := c.Follow(ctx, acc.Release.ID, nil); followed <- err }()

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
	if took > 15*time.Second {
		t.Errorf("serve took %s to stop, want well within its 30s stop timeout", took)
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
