package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/sampleapp/sampletest"
)

var sampleBin, hotswapBin string

func TestMain(m *testing.M) {
	sampletest.Main(m, func(bins ...string) { sampleBin, hotswapBin = bins[0], bins[1] }, sampletest.SampleApp, sampletest.Hotswap)
}

// run executes the CLI in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Main(ctx, args, &out, &out)
	return code, out.String()
}

// writeConfig writes a config for one process service and returns its path.
func writeConfig(t *testing.T, dir string) string {
	t.Helper()
	y := fmt.Sprintf(`state_dir: %q
proxy: {listen: 127.0.0.1:0}
services:
  - name: web
    hosts: [web.test]
    runtime: process
    process:
      command: [%q, --port, "{port}", --version, "{version}"]
    health: {path: /health, interval: 50ms, healthy_threshold: 2, deadline: 2s}
    warm_for: 1m
`, dir, sampleBin)
	p := filepath.Join(dir, "hotswap.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startServe runs `hotswap serve` in-process until the test ends.
func startServe(t *testing.T, cfg string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		var out bytes.Buffer
		done <- Main(ctx, []string{"serve", "-c", cfg, "--log-level", "error", "--stop-apps-on-exit"}, &out, &out)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d", code)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := run(t, "-c", cfg, "status"); code == ExitOK {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling a starting daemon, with a deadline
	}
	t.Fatal("daemon did not answer within 20s")
}

func TestCLIExitCodesAndOutput(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)

	if code, out := run(t, "-c", cfg, "status"); code != ExitUnreachable || !strings.Contains(out, "hotswap serve") {
		t.Fatalf("status without a daemon: exit %d %q, want %d and a hint", code, out, ExitUnreachable)
	}
	startServe(t, cfg)

	code, out := run(t, "-c", cfg, "deploy", "web", "v1", "--note", "first", "--commit", "c0ffee1234567890")
	if code != ExitOK {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	for _, step := range []string{"prepare", "start", "health", "switch", "✓ web v1 is live"} {
		if !strings.Contains(out, step) {
			t.Errorf("deploy output lacks %q:\n%s", step, out)
		}
	}

	// A deploy in progress makes a second one exit with its own code. Once
	// --detach returns, the first deploy is accepted and active.
	code, out = run(t, "-c", cfg, "deploy", "web", "v2-unhealthy", "--detach")
	if code != ExitOK || !strings.Contains(out, "hotswap wait 2") {
		t.Fatalf("detached deploy: exit %d %q", code, out)
	}
	if code, out := run(t, "-c", cfg, "deploy", "web", "v3"); code != ExitBusy || !strings.Contains(out, "already running") {
		t.Errorf("second deploy: exit %d %q, want %d", code, out, ExitBusy)
	}
	if code, out := run(t, "-c", cfg, "wait", "2"); code != ExitFailed || !strings.Contains(out, "✗") || !strings.Contains(out, "output lines") {
		t.Errorf("wait on the unhealthy deploy: exit %d, want %d with the failure and the app's output:\n%s", code, ExitFailed, out)
	}

	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"failed deploy exits 1", []string{"deploy", "web", "v4-crash"}, ExitFailed, "exit code 3"},
		{"malformed version", []string{"deploy", "web", "v1;reboot"}, ExitUsage, "invalid version"},
		{"unknown service", []string{"deploy", "nope", "v1"}, ExitNotFound, "unknown service"},
		{"rollback to a version never deployed", []string{"rollback", "web", "v77"}, ExitNotFound, "never deployed"},
		{"rollback to the live version", []string{"rollback", "web", "v1"}, ExitConflict, "already live"},
		{"missing argument", []string{"deploy", "web"}, ExitUsage, "accepts 2 arg"},
		{"nothing to promote", []string{"promote", "web"}, ExitConflict, "no deploy in progress"},
		{"bad release id", []string{"wait", "abc"}, ExitUsage, "not a positive number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := run(t, append([]string{"-c", cfg}, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.says) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d saying %q", code, out, tt.code, tt.says)
			}
		})
	}

	if code, out := run(t, "-c", cfg, "deploy", "web", "v2"); code != ExitOK {
		t.Fatalf("deploy v2: %d %s", code, out)
	}
	// In CI (no terminal) a rollback without a version takes the previous good release.
	t.Setenv("CI", "true")
	if code, out := run(t, "-c", cfg, "rollback", "web"); code != ExitOK || !strings.Contains(out, "flipped back to warm v1") {
		t.Errorf("rollback: exit %d\n%s", code, out)
	}
	code, out = run(t, "-c", cfg, "releases", "web")
	if code != ExitOK {
		t.Fatalf("releases: %d %s", code, out)
	}
	for _, want := range []string{"VERSION", "COMMIT", "v1", "v2", "rollback", "live", "rolled_back", "failed", "first", "exit code 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("releases output lacks %q:\n%s", want, out)
		}
	}
	// v1's commit, on its release and on the rollback release that restored it.
	if n := strings.Count(out, "c0ffee123456 "); n != 2 {
		t.Errorf("releases output shows v1's commit %d times, want 2 (its deploy and the rollback to it):\n%s", n, out)
	}
	if code, out := run(t, "-c", cfg, "status"); code != ExitOK || !strings.Contains(out, "live   v1") {
		t.Errorf("status: %d\n%s", code, out)
	}
	if code, out := run(t, "-c", cfg, "logs", "web"); code != ExitOK || !strings.Contains(out, "sampleapp v1 listening on") {
		t.Errorf("logs of the live version: %d\n%s", code, out)
	}
	if code, out := run(t, "-c", cfg, "logs", "web", "v1", "-n", "2"); code != ExitOK || strings.Count(out, "\n") != 2 {
		t.Errorf("two lines of v1: %d\n%s", code, out)
	}
	// v2 is stopped once its requests drained, after the rollback returned:
	// poll (with a deadline) until it is.
	for deadline := time.Now().Add(15 * time.Second); ; {
		code, out := run(t, "-c", cfg, "logs", "web", "v2")
		if code == ExitNotFound && strings.Contains(out, "is gone") {
			break
		}
		if time.Now().After(deadline) || (code != ExitOK && code != ExitNotFound) {
			t.Errorf("logs of the rolled-back, stopped v2: %d\n%s", code, out)
			break
		}
		time.Sleep(50 * time.Millisecond) // polling an outside condition under a deadline
	}
	if code, out := run(t, "-c", cfg, "logs", "web", "v99"); code != ExitNotFound {
		t.Errorf("logs of a version never deployed: %d\n%s", code, out)
	}
	if code, out := run(t, "-c", cfg, "audit"); code != ExitOK || !strings.Contains(out, "rejected") {
		t.Errorf("audit shows no rejected command: %d\n%s", code, out)
	}

	// reload: an invalid file changes nothing and says where; the good
	// file again touches nothing that did not change.
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(good), "interval: 50ms", "interval: fast", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := run(t, "-c", cfg, "reload"); code != ExitUsage || !strings.Contains(out, cfg+":") || !strings.Contains(out, "services[0].health.interval") {
		t.Errorf("reload of an invalid file: exit %d, want %d naming %s:line:col and the key:\n%s", code, ExitUsage, cfg, out)
	}
	if err := os.WriteFile(cfg, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := run(t, "-c", cfg, "reload"); code != ExitOK || !strings.Contains(out, "unchanged 1 service(s)") {
		t.Errorf("reload of the unchanged file: exit %d\n%s", code, out)
	}
	if code, out := run(t, "-c", cfg, "status"); code != ExitOK || !strings.Contains(out, "live   v1") {
		t.Errorf("status after the reloads: %d\n%s", code, out)
	}

	// SIGHUP reloads too (`serve` runs in this process and handles it):
	// a second service appears.
	api := strings.Replace(strings.Replace(string(good), "name: web", "name: api", 1), "hosts: [web.test]", "hosts: [api.test]", 1)
	api = api[strings.Index(api, "  - name: api"):]
	if err := os.WriteFile(cfg, append(good, api...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := run(t, "-c", cfg, "status", "api")
		if code == ExitOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not add the service: %d\n%s", code, out)
		}
		time.Sleep(50 * time.Millisecond) // polling an outside condition under a deadline
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("services:\n  - name: web\n    hosts: [a.test]\n    runtime: process\n    helth: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := run(t, "config", "check", bad)
	if code != ExitUsage || !strings.Contains(out, "bad.yaml:5") || !strings.Contains(out, "helth") {
		t.Errorf("bad config: exit %d\n%s\nwant %d naming line 5 and the key", code, out, ExitUsage)
	}
	good := writeConfig(t, dir)
	if code, out := run(t, "config", "check", good); code != ExitOK || !strings.Contains(out, "ok (1 services)") {
		t.Errorf("good config: exit %d\n%s", code, out)
	}
}
