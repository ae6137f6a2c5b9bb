package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatusWithUnreadableConfigSaysSocket: a config file edited into a
// YAML syntax error (not yet applied: the daemon runs on the old one)
// leaves the CLI no state_dir to find the socket in; it must say how to
// reach the daemon anyway (--socket, HOTSWAP_SOCKET), not only what is
// wrong with the file.
func TestStatusWithUnreadableConfigSaysSocket(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hotswap.yaml")
	if err := os.WriteFile(cfg, []byte("state_dir: "+dir+"\nservices:\n  - name: [web\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := run(t, "-c", cfg, "status")
	if code != ExitUsage || !strings.Contains(out, "--socket") || !strings.Contains(out, "HOTSWAP_SOCKET") {
		t.Errorf("status with a broken config: exit %d, want %d naming --socket and HOTSWAP_SOCKET:\n%s", code, ExitUsage, out)
	}
}
