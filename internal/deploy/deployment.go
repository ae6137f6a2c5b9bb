package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hotswap/hotswap/internal/health"
	"github.com/hotswap/hotswap/internal/proxy"
	"github.com/hotswap/hotswap/internal/release"
	rt "github.com/hotswap/hotswap/internal/runtime"
)

// deployment is one deploy or rollback in flight. Its fields are set before
// its goroutine starts (previous, ctx and cancel by startLocked, under
// service.mu) and read-only after; commands arrive on the control channel.
type deployment struct {
	rel      int64
	kind     release.Kind
	version  string
	previous int64
	req      Request
	started  time.Time
	control  chan command // promote / abort, buffered
	ctx      context.Context
	approved bool // a promote during the last canary step; only the deployment's goroutine touches it
	// tookTraffic: a canary share reached the new version; only the
	// deployment's goroutine touches it.
	tookTraffic bool
	cancel      context.CancelFunc
	// endedBy says why the deployment was ended from outside (a rollback
	// asked for while it ran); guarded by service.mu, set once.
	endedBy string
}

// endLocked ends the deployment on behalf of a rollback: whatever it is
// waiting on (health, preview, canary step, bake) returns at once. Called
// with service.mu held.
func (d *deployment) endLocked(why string) {
	if d.endedBy == "" {
		d.endedBy = why
	}
	d.cancel()
}

type command int

const (
	cmdPromote command = iota + 1
	cmdAbort
)

func newDeployment(r *release.Release, req Request) *deployment {
	return &deployment{
		rel: r.ID, kind: r.Kind, version: r.Version, previous: r.PreviousID, req: req,
		started: time.Now(), control: make(chan command, 4),
	}
}

// diagnosticLines is how much of a failed instance's output the user sees.
const diagnosticLines = 50

// failure is a deploy error with what the user needs to see: the reason,
// how the instance ended, its last output.
type failure struct {
	step string
	err  error
	exit string
	logs []string
}

func (f *failure) Error() string {
	var b strings.Builder
	// The first line is what `hotswap releases` shows: how the instance
	// ended comes first, it is usually the answer.
	fmt.Fprintf(&b, "%s: ", f.step)
	if f.exit != "" {
		fmt.Fprintf(&b, "[%s] ", f.exit)
	}
	fmt.Fprintf(&b, "%v", f.err)
	if len(f.logs) > 0 {
		fmt.Fprintf(&b, "\nlast %d output lines of the new instance:\n  %s", len(f.logs), strings.Join(f.logs, "\n  "))
	}
	return b.String()
}

func (f *failure) Unwrap() error { return f.err }

// run drives one deployment from queued to a terminal state.
func (e *Engine) run(s *service, d *deployment) {
	defer e.finish(s, d)
	ctx := d.ctx
	defer d.cancel()
	e.recordLateEnds(ctx)

	if err := e.store.UpdateRelease(ctx, d.rel, func(r *release.Release) error {
		r.State = release.Deploying
		r.StartedAt = time.Now()
		if d.previous != 0 {
			r.PreviousID = d.previous
		}
		return nil
	}); err != nil {
		// Nothing has started; say so on the release (a fresh attempt)
		// rather than leave it queued for a follower to wait on forever.
		e.fail(d.rel, release.Aborted, "could not record that the "+string(d.kind)+" started, so nothing was started: "+err.Error())
		e.notifyEvent(Notification{Kind: "failed", Service: s.spec().Name, Version: d.version, ReleaseID: d.rel, Actor: d.req.Source.Actor, Reason: err.Error()})
		return
	}
	e.signalChange()
	e.notifyEvent(Notification{Kind: "started", Service: s.spec().Name, Version: d.version, ReleaseID: d.rel, Actor: d.req.Source.Actor})
	e.event(d.rel, "start", release.LevelInfo, fmt.Sprintf("%s %s %s", d.kind, s.spec().Name, d.version), 0)

	if d.kind == KindConfig && !e.configStillNeeded(s, d) {
		return
	}
	if d.kind == KindRollback {
		s.mu.Lock()
		w, old := s.warm, s.live
		s.mu.Unlock()
		if w != nil && w.version == d.version {
			_, ok, err := e.warmRollback(ctx, s, d.rel, w)
			if ok {
				e.landed(s, d, old)
				return
			}
			if err != nil {
				e.conclude(s, d, err)
				return
			}
			e.dropWarm(s, w, "it did not answer the rollback's health check")
		}
	}
	e.conclude(s, d, e.blueGreen(ctx, s, d))
}

// configStillNeeded checks, as a config release starts, that its version
// is still live and still runs with another configuration. If a deploy
// replaced it meanwhile, this release ends (aborted, saying so) and, when
// the version live now was started with an older configuration, a config
// release for that version is queued instead.
func (e *Engine) configStillNeeded(s *service, d *deployment) bool {
	want := s.spec().Fingerprint
	s.mu.Lock()
	live := s.live
	s.mu.Unlock()
	switch {
	case live == nil:
		e.fail(d.rel, release.Aborted, "nothing is live any more: the next deploy starts with the new configuration")
	case live.version != d.version:
		e.fail(d.rel, release.Aborted, fmt.Sprintf("%s replaced %s before the configuration was rolled out", live.version, d.version))
		if live.spec.Fingerprint != want {
			if _, err := e.Submit(e.ctx, Request{Service: s.name, Version: live.version, Kind: KindConfig, Queue: true,
				Note: d.req.Note, Source: d.req.Source}); err != nil {
				e.event(d.rel, "config", release.LevelError, "could not queue the configuration for "+live.version+": "+err.Error(), 0)
			}
		}
	case live.spec.Fingerprint == want:
		e.fail(d.rel, release.Aborted, "the live instance already runs with this configuration")
	default:
		return true
	}
	return false
}

// dropWarm retires a warm instance that can no longer serve a rollback, so
// it is not offered again (its release retires).
func (e *Engine) dropWarm(s *service, w *slot, why string) {
	s.cut.Lock()
	s.mu.Lock()
	mine := s.warm == w
	if mine {
		s.stopWarmLocked()
		w.unwatchLocked()
	}
	s.mu.Unlock()
	s.cut.Unlock()
	if mine {
		e.retireAsync(s, w, release.Retired)
		e.event(w.rel, "state", release.LevelWarn, "warm instance retired: "+why, 0)
	}
}

// landed reports a deployment whose release went live.
func (e *Engine) landed(s *service, d *deployment, old *slot) {
	e.event(d.rel, "done", release.LevelInfo, fmt.Sprintf("%s %s %s is live", d.kind, s.spec().Name, d.version), time.Since(d.started))
	kind := "succeeded"
	if d.kind == KindRollback {
		kind = "rolled_back"
	}
	prev := ""
	if old != nil {
		prev = old.version
	}
	e.notifyEvent(Notification{Kind: kind, Service: s.spec().Name, Version: d.version, PreviousVersion: prev,
		ReleaseID: d.rel, Actor: d.req.Source.Actor, Duration: time.Since(d.started), Automatic: d.req.Source.Kind == release.SourceAuto})
}

// conclude records the outcome of a deployment that did not already record
// success itself.
func (e *Engine) conclude(s *service, d *deployment, err error) {
	if err == nil {
		return
	}
	state := release.Failed
	kind := "failed"
	var af *analysisFailure
	s.mu.Lock()
	endedBy := d.endedBy
	s.mu.Unlock()
	if errors.As(err, &af) {
		state, kind = release.RolledBack, "rolled_back"
		e.record(d.rel, func(r *release.Release) { r.Analysis = af.v.JSON() })
	} else if endedBy != "" {
		state, kind, err = release.Aborted, "rolled_back", errors.New(endedBy)
		if d.tookTraffic {
			state = release.RolledBack
		}
	} else if errors.Is(err, errAborted) {
		state = release.Aborted
	} else if e.ctx.Err() != nil {
		err = fmt.Errorf("interrupted: the daemon is shutting down: %w", err)
	}
	msg := err.Error()
	// A fresh context: the deployment's own may be what was cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if uerr := e.store.UpdateRelease(ctx, d.rel, func(r *release.Release) error {
		r.State = state
		r.Error = msg
		r.FinishedAt = time.Now()
		return nil
	}); uerr != nil {
		e.log.Error("record failed release", "release", d.rel, "err", uerr)
		e.unrecorded.Store(d.rel, unrecordedEnd{state: state, msg: msg, storeErr: uerr.Error(), at: time.Now()})
	}
	e.event(d.rel, "done", release.LevelError, fmt.Sprintf("%s %s %s: %s; traffic stays on the live version", d.kind, s.spec().Name, d.version, firstLine(msg)), time.Since(d.started))
	e.log.Warn("deploy failed", "service", s.spec().Name, "version", d.version, "release", d.rel, "err", firstLine(msg))
	e.notifyEvent(Notification{Kind: kind, Service: s.spec().Name, Version: d.version, ReleaseID: d.rel, Actor: d.req.Source.Actor,
		Reason: firstLine(msg), Duration: time.Since(d.started), Automatic: af != nil})
}

var errAborted = errors.New("aborted")

// blueGreen starts the new version beside the live one, gates it on health
// and switches traffic. Any error leaves traffic where it was and removes
// what was started.
func (e *Engine) blueGreen(ctx context.Context, s *service, d *deployment) error {
	sp := s.spec()
	step := time.Now()
	art, err := sp.Runtime.Prepare(ctx, d.version, e.lineWriter(d.rel, "prepare"))
	if err != nil {
		return &failure{step: "prepare", err: err}
	}
	e.record(d.rel, func(r *release.Release) { r.ImageRef, r.ImageDigest = art.Ref, art.Digest })
	e.event(d.rel, "prepare", release.LevelInfo, "ready: "+art.Ref+digestSuffix(art.Digest), time.Since(step))
	e.noteSameDigest(ctx, s, d.rel, art.Digest)

	if err := e.runHooks(ctx, s, d); err != nil {
		return err
	}

	step = time.Now()
	started := sp.currentSpec() // what this instance runs with, whatever a reload does meanwhile
	inst, err := sp.Runtime.Start(ctx, rt.Spec{Version: d.version, ReleaseID: d.rel})
	if err != nil {
		return &failure{step: "start", err: err}
	}
	e.record(d.rel, func(r *release.Release) { r.InstanceID, r.Addr = inst.ID(), inst.Addr() })
	e.event(d.rel, "start", release.LevelInfo, fmt.Sprintf("%s started, app address %s", shortID(inst.ID()), inst.Addr()), time.Since(step))

	if err := e.gate(ctx, s, d, inst); err != nil {
		e.discard(s, d, inst)
		return err
	}
	if err := e.preview(ctx, s, d, inst); err != nil {
		return err
	}
	replaced := release.Warm
	var t *proxy.Target
	if d.kind == KindRollback {
		replaced = release.RolledBack // a rollback goes straight to 100%: the target was good before
	} else if d.kind == KindConfig {
		replaced = release.Retired // the same version: nothing to roll back to by version
	} else if s.spec().Progressive.Strategy == "canary" && len(s.spec().Progressive.Steps) > 0 && s.hasLive() {
		var err error
		if t, err = e.canary(ctx, s, d, inst); err != nil {
			return err
		}
	}
	s.mu.Lock()
	old := s.live
	s.mu.Unlock()
	if _, err := e.cutover(s, move{rel: d.rel, version: d.version, inst: inst, spec: &started, target: t, demote: replaced}); err != nil {
		if t != nil {
			s.route.ClearCanary() // the canary's share goes back to the live version
		}
		e.discard(s, d, inst, t)
		return err
	}
	e.landed(s, d, old)
	return e.bake(ctx, s, d, inst)
}

// gate waits for the new instance to pass its health check.
func (e *Engine) gate(ctx context.Context, s *service, d *deployment, inst rt.Instance) error {
	step := time.Now()
	c := s.spec().Health
	e.event(d.rel, "health", release.LevelInfo, fmt.Sprintf("waiting for %d consecutive passes of %s (deadline %s)", c.HealthyThreshold, c.Describe(), c.Deadline), 0)
	probes := 0
	var warned time.Time // failures are reported at most once a second
	err := health.WaitHealthy(ctx, inst.Addr(), c, inst.Done(), func(p health.Probe) {
		probes++
		if !p.OK && time.Since(warned) >= time.Second {
			warned = time.Now()
			e.event(d.rel, "health", release.LevelWarn, "probe failed: "+p.String(), 0)
		}
	})
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) && e.ctx.Err() == nil {
			return errAborted
		}
		return e.diagnose(inst, "health", err)
	}
	e.event(d.rel, "health", release.LevelInfo, fmt.Sprintf("healthy after %d probes", probes), time.Since(step))
	return nil
}

// diagnose wraps err with how the instance ended and its last output.
func (e *Engine) diagnose(inst rt.Instance, step string, err error) error {
	f := &failure{step: step, err: err}
	if ex, ok := inst.Exit(); ok {
		f.exit = ex.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if lines, lerr := inst.Logs(ctx, diagnosticLines); lerr == nil {
		f.logs = lines
	} else {
		f.logs = []string{"(could not read output: " + lerr.Error() + ")"}
	}
	return f
}

// discard removes an instance that will never serve. Given the targets
// that carried preview or canary requests to it (already taken out of the
// route), it lets them drain first, in the background, so the deployment
// ends at once and no request is cut.
func (e *Engine) discard(s *service, d *deployment, inst rt.Instance, targets ...*proxy.Target) {
	var drain []*proxy.Target
	for _, t := range targets {
		if t != nil {
			drain = append(drain, t)
		}
	}
	if len(drain) > 0 {
		e.goOwned(func() {
			for _, t := range drain {
				ctx, cancel := context.WithTimeout(context.Background(), s.spec().DrainTimeout)
				_ = t.Drain(ctx)
				cancel()
			}
			e.discard(s, d, inst)
		})
		return
	}
	step := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := inst.Remove(ctx); err != nil {
		e.event(d.rel, "cleanup", release.LevelError, fmt.Sprintf("remove %s: %v", shortID(inst.ID()), err), time.Since(step))
		return
	}
	e.event(d.rel, "cleanup", release.LevelInfo, fmt.Sprintf("removed %s of %s", shortID(inst.ID()), d.version), time.Since(step))
}

// runHooks runs the pre-traffic hooks (migrations) against the new version.
func (e *Engine) runHooks(ctx context.Context, s *service, d *deployment) error {
	for i, argv := range s.spec().Hooks {
		step := time.Now()
		name := fmt.Sprintf("hook %d/%d", i+1, len(s.spec().Hooks))
		e.event(d.rel, "hook", release.LevelInfo, name+": "+strings.Join(argv, " "), 0)
		out := newTailBuffer(64 << 10)
		w := teeWriter{out, e.lineWriter(d.rel, "hook")}
		hctx, cancel := context.WithTimeout(ctx, s.spec().HookTimeout)
		err := s.spec().Runtime.RunHook(hctx, d.version, argv, w)
		timedOut := hctx.Err() == context.DeadlineExceeded
		cancel()
		e.record(d.rel, func(r *release.Release) { r.HookOutput += out.String() })
		if err != nil {
			if timedOut {
				err = fmt.Errorf("timed out after %s: %w", s.spec().HookTimeout, err)
			}
			return &failure{step: name, err: err}
		}
		e.event(d.rel, "hook", release.LevelInfo, name+" succeeded", time.Since(step))
	}
	return nil
}

func digestSuffix(d string) string {
	if d == "" {
		return ""
	}
	return " (" + d + ")"
}

// shortID is how an instance is named in step messages: a container ID's
// usual 12 characters; an opaque ID (a process's) says only "instance".
func shortID(id string) string {
	if len(id) >= 12 && strings.Trim(id, "0123456789abcdef") == "" {
		return id[:12]
	}
	return "instance"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
