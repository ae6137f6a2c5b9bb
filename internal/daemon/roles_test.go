package daemon

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
)

// rolesTop is a control block with a deployer and a viewer token.
const rolesTop = `  listen: 127.0.0.1:0
  tokens:
    - {name: alice, token: deployer-token-0123456789}
    - {name: victor, token: viewer-token-0123456789ab, role: viewer}
`

// TestViewerTokenIsReadOnly: a viewer token reads, and every action it
// tries is refused with 403 (forbidden), changes nothing and is audited.
func TestViewerTokenIsReadOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deployer, viewer := rolesDaemon(ctx, t)

	if st, err := viewer.Status(ctx, "web"); err != nil || st[0].Live == nil || st[0].Live.Version != "v1" {
		t.Fatalf("viewer status: %+v %v", st, err)
	}
	_, err := viewer.Deploy(ctx, "web", api.DeployRequest{Version: "v2"})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeForbidden || ae.Status != 403 {
		t.Fatalf("viewer deploy: %v, want 403 forbidden", err)
	}
	if _, err := viewer.Rollback(ctx, "web", api.RollbackRequest{}); !errors.As(err, &ae) || ae.Code != api.CodeForbidden {
		t.Fatalf("viewer rollback: %v, want forbidden", err)
	}
	rels, err := deployer.Releases(ctx, "web", 10)
	if err != nil || len(rels) != 1 {
		t.Fatalf("releases after refused actions: %d %v (want only the v1 deploy)", len(rels), err)
	}
	audit, err := deployer.Audit(ctx, "", 20)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, a := range audit {
		if a.Actor == "victor" && a.Outcome == "rejected" {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("audit has %d refused viewer actions, want 2: %+v", refused, audit)
	}
}

// TestViewerSeesNoPreviewSecret: the secret that reaches a held version is
// shown to a deployer's status and never to a viewer's.
func TestViewerSeesNoPreviewSecret(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deployer, viewer := rolesDaemon(ctx, t)
	if _, err := deployer.Deploy(ctx, "web", api.DeployRequest{Version: "v2", Hold: true}); err != nil {
		t.Fatal(err)
	}
	secret := ""
	waitFor(ctx, t, "the held preview's secret in the deployer's status", func() bool {
		st, err := deployer.Status(ctx, "web")
		if err == nil && len(st) == 1 {
			secret = st[0].PreviewSecret
		}
		return secret != ""
	})
	st, err := viewer.Status(ctx, "web")
	if err != nil || len(st) != 1 {
		t.Fatalf("viewer status: %+v %v", st, err)
	}
	if st[0].PreviewSecret != "" {
		t.Fatalf("a viewer token was shown the preview secret %q", st[0].PreviewSecret)
	}
}

// rolesDaemon starts a daemon with a deployer and a viewer token and v1
// live, and returns a client for each token.
func rolesDaemon(ctx context.Context, t *testing.T) (deployer, viewer *api.Client) {
	t.Helper()
	d := startDaemon(t, servicesConfig(t, t.TempDir(), fmt.Sprintf(webService, sampleBin), rolesTop), true)
	deployer = api.DialTCP("http://"+d.ControlAddr(), "deployer-token-0123456789")
	viewer = api.DialTCP("http://"+d.ControlAddr(), "viewer-token-0123456789ab")
	mustDeploy(ctx, t, deployer, "web", "v1", "live")
	return deployer, viewer
}
