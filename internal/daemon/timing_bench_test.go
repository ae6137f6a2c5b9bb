package daemon

// Benchmarks of deploy and rollback timings (issues 3 and 5), measured on a
// real daemon through its API and read back from the releases' recorded
// steps. They are measurements, not assertions: run them with
//
//	go test -run='^$' -bench='Timing' -benchtime=5x ./internal/daemon/
//
// Each iteration is one deploy or rollback; what has to happen between two
// of them (the next deploy to roll back from, waiting for a replaced
// instance to stop) runs with the timer stopped. The custom metrics are
// means per operation; ns/op is the timed API round trip.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/loadgen"
)

// timingDeadline bounds one benchmark; a hung deploy fails it instead of
// hanging the run.
const timingDeadline = 5 * time.Minute

func timingMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkTimingDockerDeploy: a deploy of a cached image, alternating two
// tags, split into hotswap's part and the app's own start-up as the health
// gate sees it. "new-container" removes the version's stopped containers
// first, so each deploy creates one; "stopped-container" lets hotswap start
// the one it kept.
func BenchmarkTimingDockerDeploy(b *testing.B) {
	for _, mode := range []struct {
		name    string
		restart bool
	}{{"new-container", false}, {"stopped-container", true}} {
		b.Run(mode.name, func(b *testing.B) {
			dk := newDockerFixture(b, "v1", "v2")
			_, c := daemonClient(b, servicesConfig(b, b.TempDir(), dk.services("2m", ""), ""))
			benchDeploys(b, c, dk.service, dk, mode.restart)
		})
	}
}

// BenchmarkTimingProcessDeploy is the same deploy with the sample app as a
// local process.
func BenchmarkTimingProcessDeploy(b *testing.B) {
	_, c := daemonClient(b, servicesConfig(b, b.TempDir(), timingProcessService(b, "1m"), ""))
	benchDeploys(b, c, "web", nil, false)
}

// benchDeploys deploys v1 and v2 alternately, one deploy per iteration.
// Before each, the instance the previous deploy retired has stopped.
func benchDeploys(b *testing.B, c *api.Client, svc string, dk *dockerFixture, restart bool) {
	ctx, cancel := context.WithTimeout(b.Context(), timingDeadline)
	defer cancel()
	n := 0
	// one deploys the next version; only the API call and the wait for
	// the release to settle are timed.
	one := func(wantRestart bool) (api.Release, []api.Event, time.Duration) {
		b.StopTimer()
		defer b.StartTimer()
		v := []string{"v1", "v2"}[n%2]
		n++
		st, err := c.Status(ctx, svc)
		if err != nil {
			b.Fatal(err)
		}
		var warm int64 // the release whose instance this deploy retires
		if st[0].Warm != nil {
			warm = st[0].Warm.Release
		}
		if dk != nil && !restart {
			dk.removeStopped(ctx, b, v)
		}
		b.StartTimer()
		rel, took := act(ctx, b, c, svc, "deploy", v, "live")
		b.StopTimer()
		dk.check(b, rel, wantRestart)
		if warm != 0 {
			timingWaitStopped(ctx, b, c, warm)
		}
		return rel, timingEvents(ctx, b, c, rel.ID), took
	}
	// Warm up to the steady state: both versions deployed (and, to restart
	// containers, each with one stopped).
	warmup := 2
	if restart {
		warmup = 4
	}
	for range warmup {
		one(false)
	}
	var avg timingAverages
	for b.Loop() {
		_, evs, took := one(restart)
		total := timingStep(b, evs, "done", "is live").DurationMS
		health := timingStep(b, evs, "health", "healthy after").DurationMS
		avg.add("total-ms/op", total)
		avg.add("overhead-ms/op", total-health)
		avg.add("health-ms/op", health)
		avg.add("prepare-ms/op", timingStep(b, evs, "prepare", "ready").DurationMS)
		avg.add("start-ms/op", timingStep(b, evs, "start", "started, app address").DurationMS)
		avg.add("switch-us/op", 1000*timingStep(b, evs, "switch", "traffic switched").DurationMS)
		avg.add("api-ms/op", timingMS(took))
	}
	avg.report(b)
}

// BenchmarkTimingDockerWarmRollback: a rollback to the warm previous
// container, a pointer flip after one health probe.
func BenchmarkTimingDockerWarmRollback(b *testing.B) {
	dk := newDockerFixture(b, "v1", "v2")
	_, c := daemonClient(b, servicesConfig(b, b.TempDir(), dk.services("2m", ""), ""))
	benchRollback(b, c, dk.service, dk, false)
}

// BenchmarkTimingProcessWarmRollback: the same with local processes.
func BenchmarkTimingProcessWarmRollback(b *testing.B) {
	_, c := daemonClient(b, servicesConfig(b, b.TempDir(), timingProcessService(b, "1m"), ""))
	benchRollback(b, c, "web", nil, false)
}

// BenchmarkTimingDockerStoppedRollback: a rollback to a version whose
// container was stopped (warm_for 0s stops it right after the drain):
// hotswap starts the kept container again, without a pull.
func BenchmarkTimingDockerStoppedRollback(b *testing.B) {
	dk := newDockerFixture(b, "v1", "v2")
	_, c := daemonClient(b, servicesConfig(b, b.TempDir(), dk.services("0s", ""), ""))
	benchRollback(b, c, dk.service, dk, true)
}

// BenchmarkTimingProcessStoppedRollback: the same with local processes,
// where a stopped version means starting a new process.
func BenchmarkTimingProcessStoppedRollback(b *testing.B) {
	_, c := daemonClient(b, servicesConfig(b, b.TempDir(), timingProcessService(b, "0s"), ""))
	benchRollback(b, c, "web", nil, true)
}

// benchRollback deploys v2 over v1 (untimed), then rolls back to v1
// (timed), once per iteration. With toStopped it first waits until v1 is
// stopped (warm_for 0s), so the rollback starts it again; otherwise v1 is
// still warm and the rollback (without a version) flips back to it.
func benchRollback(b *testing.B, c *api.Client, svc string, dk *dockerFixture, toStopped bool) {
	ctx, cancel := context.WithTimeout(b.Context(), timingDeadline)
	defer cancel()
	live, _ := act(ctx, b, c, svc, "deploy", "v1", "live")
	dk.note(live)
	target := ""
	if toStopped {
		target = "v1"
	}
	var avg timingAverages
	for b.Loop() {
		b.StopTimer()
		bad, _ := act(ctx, b, c, svc, "deploy", "v2", "live")
		dk.note(bad)
		if toStopped {
			timingWaitStopped(ctx, b, c, live.ID)
		}
		b.StartTimer()
		rel, took := act(ctx, b, c, svc, "rollback", target, "live")
		b.StopTimer()
		if rel.Version != "v1" {
			b.Fatalf("rollback went to %s, want v1", rel.Version)
		}
		dk.check(b, rel, true) // Docker: the warm container serves again, or the stopped one is started again
		evs := timingEvents(ctx, b, c, rel.ID)
		if toStopped {
			for _, e := range evs {
				if e.Step == "switch" && !strings.HasPrefix(e.Message, "traffic switched to v1 from v2") {
					b.Fatalf("rollback to a stopped version switched with %q", e.Message)
				}
			}
			total := timingStep(b, evs, "done", "is live").DurationMS
			health := timingStep(b, evs, "health", "healthy after").DurationMS
			avg.add("stopped-rollback-ms/op", timingMS(took))
			avg.add("overhead-ms/op", total-health)
			avg.add("health-ms/op", health)
			avg.add("start-ms/op", timingStep(b, evs, "start", "started, app address").DurationMS)
		} else {
			avg.add("warm-rollback-ms/op", timingMS(took))
			avg.add("engine-ms/op", timingStep(b, evs, "done", "is live").DurationMS)
			avg.add("switch-us/op", 1000*timingStep(b, evs, "switch", "flipped back to warm").DurationMS)
		}
		timingWaitStopped(ctx, b, c, bad.ID)
		live = rel
		b.StartTimer()
	}
	avg.report(b)
}

// BenchmarkTimingBakeRollback (issue 5): a blue/green deploy that passes
// its health check but answers 5xx, under load, rolled back by the bake
// analysis. rollback-ms is from the failing verdict to 100% of traffic on
// the warm previous version (a rollback release, one probe of the warm
// instance, the recorded switch, the swap); flip-us is the swap alone.
// verdict-to-event adds recording the outcome; bad-live is how long the
// bad version had all traffic (detection: analysis interval, min_requests).
func BenchmarkTimingBakeRollback(b *testing.B) {
	svc := timingProcessService(b, "1m") + "    analysis: {interval: 300ms, min_requests: 20, max_error_rate: 0.05, bake: 30s}\n"
	d, c := daemonClient(b, servicesConfig(b, b.TempDir(), svc, ""))
	ctx, cancel := context.WithTimeout(b.Context(), timingDeadline)
	defer cancel()
	act(ctx, b, c, "web", "deploy", "v1", "live")

	load := loadgen.Start(ctx, loadgen.Options{URL: "http://" + d.ProxyAddr(), Host: "web.test", Workers: 4, MaxRequests: 50_000_000})
	defer load.Stop()
	timingWaitTraffic(ctx, b, c, "web")

	var avg timingAverages
	for b.Loop() {
		rel, took := act(ctx, b, c, "web", "deploy", "v2-errors", "rolled_back")
		b.StopTimer()
		evs := timingEvents(ctx, b, c, rel.ID)
		rb := timingStep(b, evs, "rollback", "automatic rollback")
		sw := timingStep(b, evs, "switch", "traffic switched")
		var verdict api.Event // the first failing analysis, which ends the bake
		for _, e := range evs {
			if e.Step == "analysis" && e.Level == "error" {
				verdict = e
				break
			}
		}
		if verdict.Level != "error" {
			b.Fatalf("no failing analysis in %+v", evs)
		}
		// The rollback is a release of its own (the newest): its switch
		// step is the pointer swap after the record; the deploy's rollback
		// event spans the whole rollback (release row, one probe of the
		// warm instance, the recorded switch, the swap).
		rels, err := c.Releases(ctx, "web", 1)
		if err != nil || len(rels) == 0 || rels[0].Kind != "rollback" {
			b.Fatalf("no rollback release: %+v %v", rels, err)
		}
		flip := timingStep(b, timingEvents(ctx, b, c, rels[0].ID), "switch", "flipped back to warm")
		avg.add("flip-us/op", 1000*flip.DurationMS)
		avg.add("rollback-ms/op", rb.DurationMS)
		avg.add("verdict-to-event-ms/op", timingMS(rb.At.Sub(verdict.At)))
		avg.add("bad-live-ms/op", timingMS(rb.At.Sub(sw.At)))
		avg.add("deploy-ms/op", timingMS(took))
		timingWaitStopped(ctx, b, c, rel.ID)
		b.StartTimer()
	}
	res := load.Stop()
	if n := res.FailedByVersion["v1"] + res.FailedByVersion[""]; n != 0 {
		b.Errorf("%d failed requests on the stable version: %v", n, res.Failures)
	}
	avg.report(b)
}

// timingWaitTraffic polls until the live version has served some requests,
// so the bake analysis has traffic to judge from the first interval.
func timingWaitTraffic(ctx context.Context, tb testing.TB, c *api.Client, svc string) {
	tb.Helper()
	for ctx.Err() == nil {
		st, err := c.Status(ctx, svc)
		if err == nil && st[0].Live != nil && st[0].Live.Traffic.Requests > 100 {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling an outside condition under ctx's deadline
	}
	tb.Fatalf("no traffic reached %s before the deadline", svc)
}
