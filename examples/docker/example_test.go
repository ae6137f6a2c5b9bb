// Package dockerexample_test proves that examples/docker works the way the
// README's "Deploy a Docker app" says: the real Dockerfile builds two
// versions of the example app on the local engine (no registry), the real
// hotswap.yaml drives a real daemon, and deploy, rollback to the warm
// version, rollback to a stopped one, and prune behave as described, with
// the proxy reaching the containers both ways (reach: host and network).
package dockerexample_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/daemon"
	"github.com/hotswap/hotswap/internal/runtime/docker"
	"github.com/hotswap/hotswap/internal/runtime/docker/dockertest"
)

// exampleImage is the repository hotswap.yaml deploys and build.sh tags.
const exampleImage = "hotswap-example/web"

// TestExampleAsWritten checks the files agree with each other and with the
// README before anything runs: what build.sh tags is what hotswap.yaml
// deploys, and the settings the README explains are the ones in the file.
func TestExampleAsWritten(t *testing.T) {
	cfg, err := config.Load("hotswap.yaml")
	if err != nil {
		t.Fatalf("hotswap.yaml: %v", err)
	}
	if len(cfg.Services) != 1 {
		t.Fatalf("hotswap.yaml has %d services, want 1 (web)", len(cfg.Services))
	}
	s := cfg.Services[0]
	if s.Name != "web" || s.Runtime != config.RuntimeDocker || s.Docker.Image != exampleImage || s.Docker.Port != 3000 ||
		s.Docker.Reach != config.ReachAuto || s.Health.Path != "/health" || !slices.Contains(s.Hosts, "localhost") {
		t.Errorf("hotswap.yaml service = %+v %+v; the README describes web, docker, %s, port 3000, reach auto, /health, host localhost",
			s, *s.Docker, exampleImage)
	}
	if len(s.Hooks.PreTraffic) != 1 || strings.Join(s.Hooks.PreTraffic[0], " ") != "migrate" {
		t.Errorf("pre_traffic = %v, want [[migrate]] (the app's migrate subcommand)", s.Hooks.PreTraffic)
	}
	if want, _ := filepath.Abs("state"); cfg.StateDir != want {
		t.Errorf("state_dir = %s, want ./state relative to the file (%s)", cfg.StateDir, want)
	}
	script, err := os.ReadFile("build.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"IMAGE=" + exampleImage + "\n", `-t "$IMAGE:$VERSION"`, "CGO_ENABLED=0", "set -euo pipefail"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("build.sh does not contain %q", want)
		}
	}
}

// TestDeployDockerExample runs the README's walk-through against the real
// engine: build v1 and v2 from the Dockerfile, deploy both, roll back to the
// warm v1, roll back to the stopped v2 (its kept container is started
// again), prune; once with the proxy reaching containers through published
// loopback ports and once through the network.
func TestDeployDockerExample(t *testing.T) {
	cli := dockertest.Engine(t) // skips, saying why, only when no engine answers
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Unique names, so a run never touches a user's real hotswap-example
	// images or another run's containers.
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000)
	repo := exampleImage + "-test" + suffix
	buildCtx := buildContext(t, buildApp(ctx, t))
	for _, v := range []string{"v1", "v2"} {
		buildImage(ctx, t, cli, buildCtx, repo+":"+v, v)
	}

	for _, reach := range []config.Reach{config.ReachHost, config.ReachNetwork} {
		t.Run(string(reach), func(t *testing.T) {
			if reach == config.ReachNetwork {
				ok, subnet, err := containerIPsRoutable(ctx, cli)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					t.Skipf("reach: network needs container addresses to be routable from hotswap; this process is not in the engine's network namespace (no local address in the bridge subnet %q)", subnet)
				}
			}
			walkThrough(ctx, t, cli, repo, reach, suffix)
		})
	}
}

// walkThrough is the README's sequence for one reach mode.
func walkThrough(ctx context.Context, t *testing.T, cli *client.Client, repo string, reach config.Reach, suffix string) {
	svc := "web-" + string(reach) + "-" + suffix
	network := "hotswap-example-test-" + string(reach) + "-" + suffix
	dockertest.RemoveNetwork(t, cli, network) // registered first: runs after the containers are gone
	dockertest.RemoveContainers(t, cli, docker.LabelService, svc)
	dockertest.RemoveContainers(t, cli, docker.LabelHook, svc)

	// hotswap.yaml as written, but for what must differ in a test: a private
	// state dir, a free port, unique names, and the reach mode under test.
	cfg, err := config.Load("hotswap.yaml")
	if err != nil {
		t.Fatalf("hotswap.yaml: %v", err)
	}
	cfg.StateDir = t.TempDir()
	cfg.Control.Socket = filepath.Join(cfg.StateDir, config.DefaultSocketName)
	cfg.Proxy.Listen = "127.0.0.1:0"
	s := &cfg.Services[0]
	s.Name, s.Docker.Image, s.Docker.Network, s.Docker.Reach = svc, repo, network, reach
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config after the test's overrides: %v", err)
	}
	d := startDaemon(t, cfg)
	c := api.DialSocket(d.SocketPath(), "example-test")
	host := s.Hosts[0]

	// hotswap deploy web v1: the migration ran in the new image, the app
	// answers through the proxy as v1.
	v1 := mustRun(ctx, t, c, svc, "deploy", "v1")
	if !strings.Contains(v1.HookOutput, "migrate: version v1:") {
		t.Errorf("deploy v1: hook output %q, want the app's migrate line for v1", v1.HookOutput)
	}
	checkReach(ctx, t, cli, v1, reach)
	a1 := mustGet(t, d.ProxyAddr(), host, "v1")

	// hotswap deploy web v2: a new container beside v1; v1 stays warm.
	v2 := mustRun(ctx, t, c, svc, "deploy", "v2")
	a2 := mustGet(t, d.ProxyAddr(), host, "v2")
	if a2.Hostname == a1.Hostname || v2.InstanceID == v1.InstanceID {
		t.Errorf("v2 answered from %s (instance %s), the same container as v1", a2.Hostname, v2.InstanceID)
	}
	st, err := c.Status(ctx, svc)
	if err != nil || st[0].Live == nil || st[0].Live.Version != "v2" || st[0].Warm == nil || st[0].Warm.Version != "v1" {
		t.Fatalf("status after deploy v2: %+v (%v), want live v2 and warm v1", st, err)
	}

	// hotswap rollback web v1: the warm v1 takes traffic again, same container.
	r1 := mustRun(ctx, t, c, svc, "rollback", "v1")
	if r1.Version != "v1" || r1.InstanceID != v1.InstanceID {
		t.Errorf("rollback went to %s on %s, want the warm v1 container %s", r1.Version, r1.InstanceID, v1.InstanceID)
	}
	if got := mustGet(t, d.ProxyAddr(), host, "v1"); got.Hostname != a1.Hostname {
		t.Errorf("after rollback v1 answered from %s, want the original container %s", got.Hostname, a1.Hostname)
	}

	// The replaced v2 is stopped but kept; rolling back to it starts that
	// same container again (no pull, no new container).
	waitStopped(ctx, t, cli, v2.InstanceID)
	r2 := mustRun(ctx, t, c, svc, "rollback", "v2")
	if r2.InstanceID != v2.InstanceID {
		t.Errorf("rollback v2 ran instance %s, want the kept container %s started again", r2.InstanceID, v2.InstanceID)
	}
	mustGet(t, d.ProxyAddr(), host, "v2")

	// hotswap prune web: both versions are within keep_images, so nothing
	// goes and both images stay.
	pr, err := c.Prune(ctx, svc)
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	if !slices.Contains(pr.Kept, "v1") || !slices.Contains(pr.Kept, "v2") || len(pr.Removed) != 0 {
		t.Errorf("prune kept %v and removed %v; want v1 and v2 kept, nothing removed", pr.Kept, pr.Removed)
	}
	for _, v := range []string{"v1", "v2"} {
		if _, err := cli.ImageInspect(ctx, repo+":"+v); err != nil {
			t.Errorf("image %s:%s gone after prune: %v", repo, v, err)
		}
	}
}

// startDaemon runs a real daemon on cfg and closes it (stopping every
// instance) when t ends.
func startDaemon(t *testing.T, cfg *config.Config) *daemon.Daemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := daemon.New(ctx, cfg, daemon.Options{Log: log, StopOnClose: true, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("new daemon: %v", err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.Close(cctx); err != nil {
			t.Errorf("close daemon: %v", err)
		}
	})
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	return d
}

// mustRun deploys or rolls back (version "" = previous) as the CLI does and
// follows the release until it settles, which must be live.
func mustRun(ctx context.Context, t *testing.T, c *api.Client, svc, verb, version string) api.Release {
	t.Helper()
	var acc api.Accepted
	var err error
	if verb == "deploy" {
		acc, err = c.Deploy(ctx, svc, api.DeployRequest{Version: version, Note: "example test"})
	} else {
		acc, err = c.Rollback(ctx, svc, api.RollbackRequest{Version: version})
	}
	if err != nil {
		t.Fatalf("%s %s %s: %v", verb, svc, version, err)
	}
	rel, err := c.Follow(ctx, acc.Release.ID, nil)
	if err != nil || rel.State != "live" {
		t.Fatalf("%s %s %s: %s (%v), want live; %s", verb, svc, version, rel.State, err, rel.Error)
	}
	return rel
}

// answer is the example app's GET / body.
type answer struct {
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
}

// mustGet asks the proxy for / with the service's host, as `curl
// http://localhost:8080/` would, and expects version to answer.
func mustGet(t *testing.T, proxy, host, version string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+proxy+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET / via the proxy: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET / via the proxy: %v", err)
	}
	var a answer
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &a) != nil || a.Version != version || a.Hostname == "" {
		t.Fatalf("GET / via the proxy: %d %q, want 200 with version %s and a hostname", resp.StatusCode, body, version)
	}
	return a
}

// checkReach checks the instance address and the container's published
// ports against what the README says of each reach mode.
func checkReach(ctx context.Context, t *testing.T, cli *client.Client, rel api.Release, reach config.Reach) {
	t.Helper()
	ins, err := cli.ContainerInspect(ctx, rel.InstanceID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect %s: %v", rel.InstanceID, err)
	}
	var published []string
	for port, bindings := range ins.Container.NetworkSettings.Ports {
		for _, b := range bindings {
			published = append(published, fmt.Sprintf("%s->%s:%s", port, b.HostIP, b.HostPort))
		}
	}
	ip, port, err := net.SplitHostPort(rel.Addr)
	if err != nil {
		t.Fatalf("instance address %q: %v", rel.Addr, err)
	}
	switch reach {
	case config.ReachHost:
		// 127.0.0.1 and an ephemeral port, the one the engine published.
		if ip != "127.0.0.1" || port == "3000" || len(published) != 1 || published[0] != "3000/tcp->127.0.0.1:"+port {
			t.Errorf("reach host: address %s, published %v; want 127.0.0.1:<ephemeral> and only that published", rel.Addr, published)
		}
	case config.ReachNetwork:
		// The container's own address on the network, the app's port, and
		// nothing published.
		if ip == "127.0.0.1" || port != "3000" || len(published) != 0 {
			t.Errorf("reach network: address %s, published %v; want <container IP>:3000 and nothing published", rel.Addr, published)
		}
	}
}

// waitStopped waits until the container exists and no longer runs.
func waitStopped(ctx context.Context, t *testing.T, cli *client.Client, id string) {
	t.Helper()
	for ctx.Err() == nil {
		ins, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatalf("container %s after rollback: %v (it should be stopped and kept)", id, err)
		}
		if !ins.Container.State.Running {
			return
		}
		time.Sleep(100 * time.Millisecond) // polling the engine under ctx's deadline
	}
	t.Fatalf("container %s still running when the test's deadline passed", id)
}
