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
	cancel   context.CancelFunc
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

	if err := e.store.UpdateRelease(ctx, d.rel, func(r *release.Release) error {
		r.State = release.Deploying
		r.StartedAt = time.Now()
		if d.previous != 0 {
			r.PreviousID = d.previous
		}
		return nil
	}); err != nil {
		e.log.Error("mark release deploying", "release", d.rel, "err", err)
		return
	}
	e.signalChange()
	e.notifyEvent(Notification{Kind: "started", Service: s.spec.Name, Version: d.version, ReleaseID: d.rel, Actor: d.req.Source.Actor})
	e.event(d.rel, "start", release.LevelInfo, fmt.Sprintf("%s %s %s", d.kind, s.spec.Name, d.version), 0)

	var err error
	if d.kind == KindRollback {
		var flipped bool
		flipped, err = e.flipToWarm(ctx, s, d)
		if flipped || err != nil {
			e.conclude(s, d, err)
			return
		}
	}
	err = e.blueGreen(ctx, s, d)
	e.conclude(s, d, err)
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
	if errors.As(err, &af) {
		state, kind = release.RolledBack, "rolled_back"
		e.record(d.rel, func(r *release.Release) { r.Analysis = af.v.JSON() })
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
	}
	e.event(d.rel, "done", release.LevelError, fmt.Sprintf("%s %s %s: %s; traffic stays on the live version", d.kind, s.spec.Name, d.version, firstLine(msg)), time.Since(d.started))
	e.log.Warn("deploy failed", "service", s.spec.Name, "version", d.version, "release", d.rel, "err", firstLine(msg))
	e.notifyEvent(Notification{Kind: kind, Service: s.spec.Name, Version: d.version, ReleaseID: d.rel, Actor: d.req.Source.Actor,
		Reason: firstLine(msg), Duration: time.Since(d.started), Automatic: af != nil})
}

var errAborted = errors.New("aborted")

// blueGreen starts the new version beside the live one, gates it on health
// and switches traffic. Any error leaves traffic where it was and removes
// what was started.
func (e *Engine) blueGreen(ctx context.Context, s *service, d *deployment) error {
	sp := s.spec
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
		e.discard(s, d, inst)
		return err
	}
	replaced := release.Warm
	var t *proxy.Target
	if d.kind == KindRollback {
		replaced = release.RolledBack // a rollback goes straight to 100%: the target was good before
	} else if s.spec.Progressive.Strategy == "canary" && len(s.spec.Progressive.Steps) > 0 && s.hasLive() {
		var err error
		if t, err = e.canary(ctx, s, d, inst); err != nil {
			e.discard(s, d, inst)
			return err
		}
	}
	if err := e.switchTo(s, d, inst, replaced, t); err != nil {
		e.discard(s, d, inst)
		return err
	}
	return e.bake(ctx, s, d, inst)
}

// gate waits for the new instance to pass its health check.
func (e *Engine) gate(ctx context.Context, s *service, d *deployment, inst rt.Instance) error {
	step := time.Now()
	c := s.spec.Health
	e.event(d.rel, "health", release.LevelInfo, fmt.Sprintf("waiting for %d consecutive passes of %s (deadline %s)", c.HealthyThreshold, c.Describe(), c.Deadline), 0)
	probes := 0
	err := health.WaitHealthy(ctx, inst.Addr(), c, inst.Done(), func(p health.Probe) {
		probes++
		if !p.OK && probes%5 == 1 {
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

// discard removes an instance that will never serve.
func (e *Engine) discard(s *service, d *deployment, inst rt.Instance) {
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
	for i, argv := range s.spec.Hooks {
		step := time.Now()
		name := fmt.Sprintf("hook %d/%d", i+1, len(s.spec.Hooks))
		e.event(d.rel, "hook", release.LevelInfo, name+": "+strings.Join(argv, " "), 0)
		out := newTailBuffer(64 << 10)
		w := teeWriter{out, e.lineWriter(d.rel, "hook")}
		hctx, cancel := context.WithTimeout(ctx, s.spec.HookTimeout)
		err := s.spec.Runtime.RunHook(hctx, d.version, argv, w)
		timedOut := hctx.Err() == context.DeadlineExceeded
		cancel()
		e.record(d.rel, func(r *release.Release) { r.HookOutput += out.String() })
		if err != nil {
			if timedOut {
				err = fmt.Errorf("timed out after %s: %w", s.spec.HookTimeout, err)
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
