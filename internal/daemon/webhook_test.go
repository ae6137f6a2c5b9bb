package daemon

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hotswap/hotswap/internal/webhook"
	"github.com/hotswap/hotswap/internal/webhook/webhooktest"
)

// TestWebhookSuiteAgainstEngine runs the webhook package's suite (real signed
// requests, every rejection checked to enqueue nothing, 50 concurrent
// duplicate deliveries) with the real engine and store behind it, so
// idempotency and error mapping are proven end to end, not against a fake.
func TestWebhookSuiteAgainstEngine(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T, services []webhook.Service) webhook.Enqueuer {
		var b strings.Builder
		for _, s := range services {
			if s.Name == webhooktest.Ghost {
				continue // the one service the engine must not know
			}
			fmt.Fprintf(&b, `  - name: %s
    hosts: [%s.test]
    runtime: process
    process:
      command: [%q, --port, "{port}", --version, "{version}"]
    health: {path: /health, interval: 50ms, healthy_threshold: 1, deadline: 3s}
    warm_for: 0s
`, s.Name, s.Name, sampleBin)
		}
		dir := t.TempDir()
		cfg := servicesConfig(t, dir, b.String(), "")
		d := startDaemon(t, cfg, true)
		return hookEnqueuer{d.Engine()}
	})
}
