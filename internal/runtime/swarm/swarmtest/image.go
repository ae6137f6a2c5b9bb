package swarmtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/hotswap/hotswap/internal/runtime/docker/dockertest"
)

// LoadImage builds the sample-app image ref (command args, see
// dockertest.SampleImage) once and loads that same image onto each of
// nodes (every node when none are given), so it has one image ID
// ("sha256:…") everywhere; it returns that ID. Images live in the nodes'
// own data roots and go away with the cluster.
func (c *Cluster) LoadImage(ctx context.Context, ref string, args []string, nodes ...*Node) (string, error) {
	tag, err := name.NewTag(ref, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("load image %s: %w", ref, err)
	}
	img, err := dockertest.SampleImage(ctx, ref, args)
	if err != nil {
		return "", err
	}
	id, err := img.ConfigName()
	if err != nil {
		return "", fmt.Errorf("load image %s: %w", ref, err)
	}
	if len(nodes) == 0 {
		nodes = c.Nodes
	}
	for _, n := range nodes {
		if err := dockertest.Load(ctx, n.Client, tag, img); err != nil {
			return "", fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return id.String(), nil
}

// Get GETs url from the host until it answers (tasks take a moment to
// listen after Swarm calls them running) and returns the trimmed body; it
// fails t after 30s.
func Get(t testing.TB, url string) string {
	t.Helper()
	cl := &http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := cl.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return strings.TrimSpace(string(b))
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
