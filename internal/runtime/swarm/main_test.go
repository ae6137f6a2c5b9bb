package swarm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/runtime/runtimetest"
	"github.com/hotswap/hotswap/internal/runtime/swarm/swarmtest"
)

// The package's tests share one two-node cluster, built by TestMain: a
// cluster takes seconds to build, the tests milliseconds to seconds each.
// cluster is nil (and skipWhy says why) when the machine cannot build one.
var (
	cluster *swarmtest.Cluster
	skipWhy string
)

// testImage is the repository of the images loaded on the nodes.
const testImage = "hotswap-swarm/web"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := swarmtest.Start(ctx, swarmtest.Options{Nodes: 2})
	switch {
	case errors.Is(err, swarmtest.ErrUnavailable):
		skipWhy = err.Error()
		return m.Run()
	case err != nil:
		fmt.Fprintln(os.Stderr, "swarm test cluster:", err)
		return 1
	}
	defer func() {
		if err := c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "swarm test cluster: close:", err)
		}
	}()
	// Every version the conformance suite starts, on every node; "v3-one"
	// only on the first node (the image-missing-on-a-node test).
	for _, v := range runtimetest.Versions {
		if _, err := c.LoadImage(ctx, testImage+":"+v, []string{"--version", v}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if _, err := c.LoadImage(ctx, testImage+":v3-one", []string{"--version", "v3-one"}, c.Nodes[0]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cluster = c
	return m.Run()
}

// needCluster skips t when there is no cluster, saying why.
func needCluster(t *testing.T) *swarmtest.Cluster {
	t.Helper()
	if cluster == nil {
		t.Skip(skipWhy)
	}
	return cluster
}
