package daemon

import (
	"fmt"
	"testing"
)

// BenchmarkTimingDefaultDeploy (issue 14): a process deploy with the
// default health settings (only health.path set), so what it reports is the
// overhead a user gets without tuning. "instant" listens at once; "boot-2s"
// waits 2 s before it listens, like an app that loads something at start.
// overhead-ms/op is the deploy's total time less the app's own start-up,
// which for boot-2s is the 2 s it sleeps:
//
//	go test -run='^$' -bench='TimingDefaultDeploy' -benchtime=5x ./internal/daemon/
func BenchmarkTimingDefaultDeploy(b *testing.B) {
	for _, app := range []struct{ name, delay string }{{"instant", "0s"}, {"boot-2s", "2s"}} {
		b.Run(app.name, func(b *testing.B) {
			svc := fmt.Sprintf(`  - name: web
    hosts: [web.test]
    runtime: process
    process:
      command: [%q, --port, "{port}", --version, "{version}", --start-delay, %q]
    health:
      path: /health
    drain_timeout: 2s
    stop_grace: 2s
    warm_for: 1m
`, sampleBin, app.delay)
			_, c := daemonClient(b, servicesConfig(b, b.TempDir(), svc, ""))
			benchDeploys(b, c, "web", nil, false)
		})
	}
}
