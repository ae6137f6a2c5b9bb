package cli

import (
	"strings"
	"testing"
)

// TestRollbackEndsHeldDeploy: `hotswap rollback` while a deploy is held in
// preview ends that deploy (its version never took the traffic) and the
// live version keeps serving: that is the rollback the operator asked for,
// done, so it exits 0 and says so. Exit 1 would tell a runbook or CI step
// that the rollback failed.
func TestRollbackEndsHeldDeploy(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	startServe(t, cfg)
	if code, out := run(t, "-c", cfg, "deploy", "web", "v1"); code != ExitOK {
		t.Fatalf("deploy v1: exit %d\n%s", code, out)
	}
	if code, out := run(t, "-c", cfg, "deploy", "web", "v2", "--hold", "--detach"); code != ExitOK {
		t.Fatalf("deploy v2 --hold: exit %d\n%s", code, out)
	}
	t.Setenv("CI", "true")
	code, out := run(t, "-c", cfg, "rollback", "web")
	if code != ExitOK || !strings.Contains(out, "✓ web: deploy v2 ended before it took the traffic") {
		t.Errorf("rollback during a held deploy: exit %d, want %d saying the deploy ended and v1 keeps serving:\n%s", code, ExitOK, out)
	}
	if code, out := run(t, "-c", cfg, "status"); code != ExitOK || !strings.Contains(out, "live   v1") || strings.Contains(out, "now ") {
		t.Errorf("status after the rollback: exit %d\n%s", code, out)
	}
}
