package daemon

// Helpers only the timing benchmarks (timing_bench_test.go) need: reading
// step durations out of a release's events, averaging them, and steering
// which Docker path (new or restarted container) a deploy takes. The daemon,
// config and deploy helpers they share with the tests take testing.TB.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/runtime/docker"
)

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

// removeStopped removes this service's stopped containers of version, so
// the next deploy of it has to create a container instead of restarting one.
func (f *dockerFixture) removeStopped(ctx context.Context, tb testing.TB, version string) {
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
func (f *dockerFixture) check(tb testing.TB, rel api.Release, restarted bool) {
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
func (f *dockerFixture) note(rel api.Release) {
	if f != nil {
		f.seen[rel.InstanceID] = true
	}
}
