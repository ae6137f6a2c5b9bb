package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
)

// socketGID is the group the test opens the control socket to; no user
// has it but the CLI child the test starts with it.
const socketGID = 4242

// TestStatusWithoutDaemonSecrets: an operator with the config file but not
// the daemon's environment (its token variable unset), and with an edit in
// the file the daemon has not applied yet, still gets `hotswap status`;
// a non-root user in control.socket_group can deploy, and is recorded as
// itself; a user outside the group is told how to point the CLI elsewhere.
func TestStatusWithoutDaemonSecrets(t *testing.T) {
	dir, err := os.MkdirTemp("", "hotswap-cli-group-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // others may reach the state dir's socket
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	sock := filepath.Join(state, "hs.sock")
	t.Setenv("HS_CLI_TEST_TOKEN", "0123456789abcdef0123")
	y := fmt.Sprintf(`state_dir: %q
proxy: {listen: 127.0.0.1:0}
control:
  socket: %q
  socket_group: "%d"
  listen: 127.0.0.1:0
  tokens: [{name: ci, token_env: HS_CLI_TEST_TOKEN}]
services:
  - name: web
    hosts: [web.test]
    runtime: process
    process:
      command: [%q, --port, "{port}", --version, "{version}"]
    health: {path: /health, interval: 50ms, healthy_threshold: 2, deadline: 2s}
`, state, sock, socketGID, sampleBin)
	cfg := filepath.Join(dir, "hotswap.yaml")
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	startServe(t, cfg)

	os.Unsetenv("HS_CLI_TEST_TOKEN") // restored by t.Setenv's cleanup
	if code, out := run(t, "-c", cfg, "status"); code != ExitOK {
		t.Fatalf("status without the daemon's secret variable: exit %d\n%s", code, out)
	}
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "not_a_key_yet: 1")
	f.Close()
	if code, out := run(t, "-c", cfg, "status"); code != ExitOK {
		t.Fatalf("status with a not-yet-applied config error: exit %d\n%s", code, out)
	}

	if os.Geteuid() != 0 {
		t.Skip("the socket-group part runs the CLI as another user: needs root")
	}
	nobody, err := user.LookupId("65534")
	if err != nil {
		t.Skipf("no user 65534 to run the CLI as: %v", err)
	}
	bin := filepath.Join(dir, "hotswap")
	copyExecutable(t, hotswapBin, bin)
	asNobody := func(groups []uint32, args ...string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--socket", sock}, args...)...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: groups}}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	}
	if code, out := asNobody([]uint32{socketGID}, "deploy", "web", "v1"); code != ExitOK {
		t.Fatalf("deploy as a member of the socket group: exit %d\n%s", code, out)
	}
	entries, err := api.DialSocket(sock, "root").Audit(context.Background(), "web", 1)
	if err != nil || len(entries) != 1 || entries[0].Actor != nobody.Username {
		t.Errorf("audit after the group member's deploy: %+v %v, want actor %q", entries, err, nobody.Username)
	}
	code, out := asNobody(nil, "status")
	if code != ExitUnreachable || !strings.Contains(out, "--socket") {
		t.Errorf("status by a user outside the group: exit %d, %q; want %d and a hint naming --socket", code, out, ExitUnreachable)
	}
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCtrlCOnDeploy: Ctrl-C while `hotswap deploy` follows a release stops
// only the command: it says the deploy continues and how to follow or abort
// it, exits 130, and the release is still in progress in the daemon.
func TestCtrlCOnDeploy(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	startServe(t, cfg)
	if code, out := run(t, "-c", cfg, "deploy", "web", "v1"); code != ExitOK {
		t.Fatalf("deploy v1: %d\n%s", code, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, hotswapBin, "-c", cfg, "deploy", "web", "v2", "--hold")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(seen.String(), "holding") {
		n, err := stdout.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			t.Fatalf("deploy output ended before the hold: %v\n%s", err, seen.String())
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil { // ours: started above
		t.Fatal(err)
	}
	_, _ = io.Copy(&seen, stdout)
	err = cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != ExitInterrupted {
		t.Errorf("deploy after Ctrl-C: %v, want exit %d", err, ExitInterrupted)
	}
	msg := stderr.String()
	for _, want := range []string{"continues in the daemon", "hotswap wait 2", "hotswap abort web"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Ctrl-C message %q lacks %q", msg, want)
		}
	}
	if code, out := run(t, "-c", cfg, "status"); code != ExitOK || !strings.Contains(out, "v2") {
		t.Errorf("after Ctrl-C the deploy is not in progress any more: %d\n%s", code, out)
	}
}
