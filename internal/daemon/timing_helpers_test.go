package daemon

// Helpers for the timing benchmarks (timing_bench_test.go). The package's
// other test helpers take *testing.T; benchmarks run with *testing.B, so
// these are their testing.TB twins, plus what only the benchmarks need:
// reading step durations out of a release's events and averaging them.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/runtime/docker"
	"github.com/hotswap/hotswap/internal/runtime/docker/dockertest"
)

// timingDockerService is dockerService without the pre-traffic hook (a
// migration is the app's work, not hotswap's, and would hide the overhead
// being measured) and with warm_for as a parameter.
const timingDockerService = `  - name: %s
    hosts: [%s.test]
    runtime: docker
    docker:
      image: %s
      port: 3000
      network: %s
      reach: host
      keep_images: 10
    health: {path: /health, interval: 100ms, timeout: 1s, healthy_threshold: 2, deadline: 6s}
    drain_timeout: 8s
    stop_grace: 2s
    warm_for: %s
`

// timingProcessService is webService (the sample app as a local process)
// with warm_for replaced by the given value.
func timingProcessService(tb testing.TB, warmFor string) string {
	tb.Helper()
	svc := fmt.Sprintf(webService, sampleBin)
	out := strings.Replace(svc, "warm_for: 1m", "warm_for: "+warmFor, 1)
	if out == svc && warmFor != "1m" {
		tb.Fatal("webService no longer sets warm_for: 1m; update timingProcessService")
	}
	return out
}

// timingConfig is servicesConfig for a testing.TB.
func timingConfig(tb testing.TB, dir, services string) *config.Config {
	tb.Helper()
	y := fmt.Sprintf("state_dir: %q\nproxy:\n  listen: 127.0.0.1:0\ncontrol:\n  socket: %q\nservices:\n%s",
		dir, filepath.Join(dir, "hs.sock"), services)
	cfg, err := config.Parse("timing.yaml", []byte(y))
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	return cfg
}

// timingDaemon is startDaemon for a testing.TB: a real daemon that stops
// its instances and closes when the benchmark ends. It logs warnings only,
// so the benchmark output stays readable.
func timingDaemon(tb testing.TB, cfg *config.Config) (*Daemon, *api.Client) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := New(ctx, cfg, Options{Log: log, StopOnClose: true, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		tb.Fatalf("new daemon: %v", err)
	}
	if err := d.Start(ctx); err != nil {
		tb.Fatalf("start daemon: %v", err)
	}
	tb.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Close(cctx); err != nil {
			tb.Errorf("close daemon: %v", err)
		}
	})
	return d, api.DialSocket(d.SocketPath(), "bench")
}

// timingDo runs one deploy (version set) or rollback to its end and returns
// the settled release and the time from the API call to Follow returning.
func timingDo(ctx context.Context, tb testing.TB, c *api.Client, svc, kind, version, want string) (api.Release, time.Duration) {
	tb.Helper()
	t0 := time.Now()
	var acc api.Accepted
	var err error
	if kind == "deploy" {
		acc, err = c.Deploy(ctx, svc, api.DeployRequest{Version: version})
	} else {
		acc, err = c.Rollback(ctx, svc, api.RollbackRequest{Version: version})
	}
	if err != nil {
		tb.Fatalf("%s %s %s: %v", kind, svc, version, err)
	}
	rel, err := c.Follow(ctx, acc.Release.ID, nil)
	took := time.Since(t0)
	if err != nil || rel.State != want {
		tb.Fatalf("%s %s %s: %s (%v), want %s; %s", kind, svc, version, rel.State, err, want, rel.Error)
	}
	return rel, took
}

// timingEvents returns a release's recorded steps.
func timingEvents(ctx context.Context, tb testing.TB, c *api.Client, id int64) []api.Event {
	tb.Helper()
	d, err := c.Release(ctx, id)
	if err != nil {
		tb.Fatalf("release %d: %v", id, err)
	}
	return d.Events
}

// timingStep finds the event of step whose message contains text.
func timingStep(tb testing.TB, evs []api.Event, name, text string) api.Event {
	tb.Helper()
	i := slices.IndexFunc(evs, func(e api.Event) bool { return e.Step == name && strings.Contains(e.Message, text) })
	if i < 0 {
		tb.Fatalf("no %s event containing %q in %+v", name, text, evs)
	}
	return evs[i]
}

// timingWaitStopped waits until the instance of release id has been stopped (its
// "stop" event), so the next measured operation does not overlap a
// retirement still in progress, and a Docker container is there to restart.
func timingWaitStopped(ctx context.Context, tb testing.TB, c *api.Client, id int64) {
	tb.Helper()
	for ctx.Err() == nil {
		for _, e := range timingEvents(ctx, tb, c, id) {
			if e.Step == "stop" {
				if e.Level != "info" {
					tb.Fatalf("release %d: %s", id, e.Message)
				}
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling an outside condition under ctx's deadline
	}
	tb.Fatalf("release %d: not stopped before the deadline", id)
}

// timingAverages sums per-iteration measurements and reports their mean per
// operation. Owned by the benchmark goroutine.
type timingAverages struct {
	names []string
	sum   map[string]float64
}

func (a *timingAverages) add(unit string, v float64) {
	if a.sum == nil {
		a.sum = map[string]float64{}
	}
	if _, ok := a.sum[unit]; !ok {
		a.names = append(a.names, unit)
	}
	a.sum[unit] += v
}

// report publishes the means; call it after the loop, when b.N is final.
func (a *timingAverages) report(b *testing.B) {
	for _, n := range a.names {
		b.ReportMetric(a.sum[n]/float64(b.N), n)
	}
}

// timingDocker holds the test images of one Docker benchmark and removes
// every container, network and image of it when the benchmark ends.
type timingDocker struct {
	cli                    *client.Client
	service, repo, network string
	seen                   map[string]bool // container IDs that have served; owned by the benchmark goroutine
}

func newTimingDocker(tb testing.TB, tags ...string) *timingDocker {
	tb.Helper()
	cli := dockertest.Engine(tb) // skips, saying why, only when no engine answers
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000)
	f := &timingDocker{cli: cli, service: "bench" + suffix, repo: "hotswap-bench/shop" + suffix,
		network: "hotswap-bench-" + suffix, seen: map[string]bool{}}
	for _, tag := range tags {
		dockertest.Image(tb, cli, f.repo+":"+tag, "--version", tag) // removed last
	}
	// Cleanups run last-registered first: containers, then the network.
	dockertest.RemoveNetwork(tb, cli, f.network)
	dockertest.RemoveContainers(tb, cli, docker.LabelService, f.service)
	return f
}

// services is the service block for this fixture with warm_for.
func (f *timingDocker) services(warmFor string) string {
	return fmt.Sprintf(timingDockerService, f.service, f.service, f.repo, f.network, warmFor)
}

// removeStopped removes this service's stopped containers of version, so
// the next deploy of it has to create a container instead of restarting one.
func (f *timingDocker) removeStopped(ctx context.Context, tb testing.TB, version string) {
	tb.Helper()
	res, err := f.cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", docker.LabelService+"="+f.service, docker.LabelVersion+"="+version).
			Add("status", "exited", "created")})
	if err != nil {
		tb.Fatalf("list stopped containers: %v", err)
	}
	for _, c := range res.Items {
		if _, err := f.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
			tb.Fatalf("remove stopped container %s: %v", c.ID[:12], err)
		}
	}
}

// check fails the benchmark unless rel's container was newly created
// (restarted false) or an earlier one started again (restarted true): the
// measurement must be of the path it is named after.
func (f *timingDocker) check(tb testing.TB, rel api.Release, restarted bool) {
	tb.Helper()
	if f == nil {
		return
	}
	if f.seen[rel.InstanceID] != restarted {
		tb.Fatalf("release %d (%s): container %.12s restarted=%v, want %v", rel.ID, rel.Version, rel.InstanceID, f.seen[rel.InstanceID], restarted)
	}
	f.seen[rel.InstanceID] = true
}

// note records rel's container as seen without checking how it started.
func (f *timingDocker) note(rel api.Release) {
	if f != nil {
		f.seen[rel.InstanceID] = true
	}
}
