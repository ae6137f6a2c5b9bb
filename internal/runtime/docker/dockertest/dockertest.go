// Package dockertest gives tests a real Docker engine and real images
// without a registry on the internet: it compiles the sample app statically
// once per test process, wraps it into FROM-scratch images built with
// go-containerregistry and loads them into the engine, and can serve an
// in-process registry on loopback (optionally behind basic auth) to test
// pulls. Everything a test creates is removed by t.Cleanup.
//
// The Docker runtime's own tests use it, and so can end-to-end tests of the
// whole daemon.
package dockertest

import (
	"context"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Engine connects to the Docker engine named by the environment (DOCKER_HOST,
// else the local socket) and negotiates the API version. It skips the test
// only when the engine does not answer a ping; any other failure fails it.
// The client is closed when t ends.
func Engine(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Skipf("no Docker engine answers at %s: %v", cli.DaemonHost(), err)
	}
	return cli
}

// RemoveContainers removes, when t ends, every container (any state)
// carrying label=value, with its anonymous volumes: the safety net for
// containers a failing test could not remove itself.
func RemoveContainers(t testing.TB, cli *client.Client, label, value string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ids, err := Containers(ctx, cli, label, value)
		if err != nil {
			t.Errorf("cleanup: list containers %s=%s: %v", label, value, err)
			return
		}
		for _, id := range ids {
			_, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !isNotFound(err) {
				t.Errorf("cleanup: remove container %s: %v", id, err)
			}
		}
	})
}

// Containers lists the IDs of all containers (any state) with label=value.
func Containers(ctx context.Context, cli *client.Client, label, value string) ([]string, error) {
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", label+"="+value),
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(res.Items))
	for _, c := range res.Items {
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// RemoveNetwork removes the named network when t ends (after the
// containers, since cleanups run last-registered first: register it before
// RemoveContainers).
func RemoveNetwork(t testing.TB, cli *client.Client, name string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
		if err != nil && !isNotFound(err) {
			t.Errorf("cleanup: remove network %s: %v", name, err)
		}
	})
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }
