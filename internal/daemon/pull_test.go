package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/runtime/docker/dockertest"
)

// TestLatestPushedTwice: a CI pushes "latest" twice to the registry; each
// deploy of "latest" runs the image pushed last (the mutable tag is pulled
// again, a stopped container of the old image is not reused), each release
// records the digest it ran, and a deploy of an unchanged tag says it runs
// the live release's image.
func TestLatestPushedTwice(t *testing.T) {
	f := newDockerFixture(t)
	host := dockertest.StartRegistry(t, "", "")
	f.repo = host + "/pull-e2e/" + f.service
	t.Cleanup(func() { dockertest.RemoveImage(t, f.cli, f.repo+":latest") })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dockertest.PushAs(t, host, "pull-e2e/"+f.service, "latest", "v1")
	d := startDaemon(t, servicesConfig(t, t.TempDir(), f.services("0s", ""), ""), true)
	c := api.DialSocket(d.SocketPath(), "test")
	first := mustDeploy(ctx, t, c, f.service, "latest", "live")
	t.Cleanup(func() { dockertest.RemoveImage(t, f.cli, f.repo+"@"+first.ImageDigest) })
	if _, v, _ := get(t, d, f.service+".test", "/"); v != "v1" {
		t.Fatalf("first deploy of latest serves %q, want v1", v)
	}

	dockertest.PushAs(t, host, "pull-e2e/"+f.service, "latest", "v2")
	second := mustDeploy(ctx, t, c, f.service, "latest", "live")
	t.Cleanup(func() { dockertest.RemoveImage(t, f.cli, f.repo+"@"+second.ImageDigest) })
	if _, v, _ := get(t, d, f.service+".test", "/"); v != "v2" {
		t.Errorf("deploy of latest after a second push serves %q, want v2 (the image pushed last)", v)
	}
	if second.ImageDigest == first.ImageDigest || !strings.HasPrefix(second.ImageDigest, "sha256:") {
		t.Errorf("digests recorded: first %q, second %q; want two different sha256 digests", first.ImageDigest, second.ImageDigest)
	}

	third := mustDeploy(ctx, t, c, f.service, "latest", "live")
	if third.ImageDigest != second.ImageDigest {
		t.Errorf("unchanged tag deployed digest %q, want %q", third.ImageDigest, second.ImageDigest)
	}
	det, err := c.Release(ctx, third.ID)
	if err != nil {
		t.Fatal(err)
	}
	said := false
	for _, e := range det.Events {
		said = said || strings.Contains(e.Message, "same image as the live release")
	}
	if !said {
		t.Errorf("a deploy of the live digest did not say so: %+v", det.Events)
	}
}
