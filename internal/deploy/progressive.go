package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/hotswap/hotswap/internal/proxy"
	"github.com/hotswap/hotswap/internal/release"
	rt "github.com/hotswap/hotswap/internal/runtime"
)

// Progressive holds how a service moves traffic beyond a plain switch.
type Progressive struct {
	// Strategy is "bluegreen" (default) or "canary".
	Strategy string
	// Steps are the canary's traffic weights, each held for its duration
	// before the next; after the last, the new version takes all traffic.
	Steps []Step
	// ApprovalBeforeLast holds the canary after its last step until
	// `hotswap promote` (or abort).
	ApprovalBeforeLast bool
	// Analysis judges the new version from live traffic; nil = none.
	Analysis *Analysis
}

// Step is one canary step.
type Step struct {
	Percent  float64
	Duration time.Duration
}

func (p Progressive) strategyName() string {
	if p.Strategy == "" {
		return "bluegreen"
	}
	return p.Strategy
}

// analysisFailure is a deploy stopped by analysis: traffic went back to the
// stable version; the release is marked rolled back with the numbers.
type analysisFailure struct{ v Verdict }

func (f *analysisFailure) Error() string { return "automatic rollback: " + f.v.String() }

// preview holds a healthy new version before the switch when the request
// asked for it (deploy --hold): requests that carry the service's preview
// header or cookie reach it, everyone else stays on the live version, until
// Promote (continue) or Abort (remove it).
func (e *Engine) preview(ctx context.Context, s *service, d *deployment, inst rt.Instance) error {
	if !d.req.Hold {
		return nil
	}
	t, err := s.route.NewTarget(d.version, inst.Addr())
	if err != nil {
		return &failure{step: "preview", err: err}
	}
	secret := s.route.SetPreview(t)
	step := time.Now()
	// A generated secret is shown once here (the deployer needs it; it dies
	// with this hold); a configured one is never echoed.
	sp := s.spec()
	shown := "the configured preview secret"
	if sp.Proxy.PreviewValue == "" {
		shown = secret
	}
	e.event(d.rel, "preview", release.LevelInfo, fmt.Sprintf("holding: requests with header %s: %s or cookie %s=%s reach %s; `hotswap promote %s` to continue, `hotswap abort %s` to stop",
		orDefault(sp.Proxy.PreviewHeader, "X-Hotswap-Preview"), shown, orDefault(sp.Proxy.PreviewCookie, "hotswap_preview"), shown,
		d.version, sp.Name, sp.Name), 0)
	_, c, err := e.watch(ctx, s, d, inst, nil, "preview", 0, nil)
	s.route.ClearPreview()
	if err != nil {
		e.discard(s, d, inst, t) // preview requests finish before the instance goes
		return err
	}
	e.goOwned(func() { // the instance lives on; its preview target only drains
		dctx, cancel := context.WithTimeout(context.Background(), s.spec().DrainTimeout)
		defer cancel()
		_ = t.Drain(dctx)
	})
	if c == cmdPromote {
		e.event(d.rel, "preview", release.LevelInfo, "promoted", time.Since(step))
	}
	return nil
}

// canary moves traffic to the new version step by step, judging it at every
// analysis interval. It returns the target now carrying the canary share;
// the caller switches it to 100%.
func (e *Engine) canary(ctx context.Context, s *service, d *deployment, inst rt.Instance) (*proxy.Target, error) {
	p := s.spec().Progressive
	t, err := s.route.NewTarget(d.version, inst.Addr())
	if err != nil {
		return nil, &failure{step: "canary", err: err}
	}
	fail := func(err error) (*proxy.Target, error) {
		s.route.ClearCanary()    // every request from now on goes to the stable version
		e.discard(s, d, inst, t) // after the canary's requests finished
		return nil, err
	}
	stable := func() func() window { return e.liveWindow(s) }
	for i, st := range p.Steps {
		s.route.SetCanary(t, st.Percent)
		d.tookTraffic = true
		phase := fmt.Sprintf("canary %g%%", st.Percent)
		e.event(d.rel, "canary", release.LevelInfo, fmt.Sprintf("step %d/%d: %g%% of traffic for %s", i+1, len(p.Steps), st.Percent, st.Duration), 0)
		v, c, err := e.watch(ctx, s, d, inst, t, phase, st.Duration, stable())
		if err != nil {
			return fail(err)
		}
		if !v.OK() {
			return fail(&analysisFailure{v})
		}
		if c == cmdPromote {
			e.event(d.rel, "canary", release.LevelInfo, fmt.Sprintf("promoted: step %d/%d ended early", i+1, len(p.Steps)), 0)
			d.approved = i == len(p.Steps)-1
		}
	}
	if p.ApprovalBeforeLast && !promotedLast(d) {
		e.event(d.rel, "approval", release.LevelInfo, fmt.Sprintf("waiting for approval before 100%%: `hotswap promote %s` or `hotswap abort %s`", s.spec().Name, s.spec().Name), 0)
		v, _, err := e.watch(ctx, s, d, inst, t, "awaiting approval", 0, stable())
		if err != nil {
			return fail(err)
		}
		if !v.OK() {
			return fail(&analysisFailure{v})
		}
	}
	return t, nil
}

// promotedLast is a hook for the approval gate: a promote given during the
// last step counts as the approval.
func promotedLast(d *deployment) bool { return d.approved }

// liveWindow returns a function giving the live version's traffic since now.
func (e *Engine) liveWindow(s *service) func() window {
	s.mu.Lock()
	live := s.live
	s.mu.Unlock()
	if live == nil {
		return func() window { return window{} }
	}
	base := live.target.Stats()
	return func() window { return since(base, live.target.Stats()) }
}

// watch waits for dur (0: until a command), judging cand every analysis
// interval when cand and stable are given. It returns the last verdict (a
// failing one as soon as it happens), a promote command, or an error for
// abort, exit of the instance or shutdown.
func (e *Engine) watch(ctx context.Context, s *service, d *deployment, inst rt.Instance, cand *proxy.Target,
	phase string, dur time.Duration, stable func() window) (Verdict, command, error) {
	a := s.spec().Progressive.Analysis
	var tick <-chan time.Time
	var base proxy.Stats
	if a != nil && cand != nil && stable != nil {
		tk := time.NewTicker(a.Interval)
		defer tk.Stop()
		tick = tk.C
		base = cand.Stats()
	}
	var done <-chan time.Time
	if dur > 0 {
		tm := time.NewTimer(dur)
		defer tm.Stop()
		done = tm.C
	}
	v := Verdict{Phase: phase, NotEnoughRequests: true}
	for {
		select {
		case <-done:
			return v, 0, nil
		case <-tick:
			v = a.judge(phase, since(base, cand.Stats()), stable())
			if !v.NotEnoughRequests {
				level := release.LevelInfo
				if !v.OK() {
					level = release.LevelError
				}
				e.event(d.rel, "analysis", level, v.String(), 0)
			}
			if !v.OK() {
				return v, 0, nil
			}
		case c := <-d.control:
			if c == cmdPromote {
				return v, c, nil
			}
			return v, c, errAborted
		case <-inst.Done():
			return v, 0, e.diagnose(inst, phase, rt.ErrExited)
		case <-ctx.Done():
			if e.ctx.Err() == nil {
				return v, 0, errAborted
			}
			return v, 0, ctx.Err()
		}
	}
}

// bake watches the new version after a blue/green switch while the old one
// is still warm; a failing analysis flips traffic back to it at once.
func (e *Engine) bake(ctx context.Context, s *service, d *deployment, inst rt.Instance) error {
	a := s.spec().Progressive.Analysis
	if a == nil || a.Bake <= 0 || d.kind != KindDeploy || s.spec().Progressive.Strategy == "canary" { // config releases go straight
		return nil
	}
	s.mu.Lock()
	live, warm := s.live, s.warm
	s.mu.Unlock()
	if warm == nil || live == nil || live.rel != d.rel {
		return nil // nothing warm to fall back to: first deploy
	}
	// The stable version's record is its traffic before the switch.
	stableAll := since(proxy.Stats{}, warm.target.Stats())
	e.event(d.rel, "bake", release.LevelInfo, fmt.Sprintf("watching %s for %s while %s stays warm", d.version, a.Bake, warm.version), 0)
	v, _, err := e.watch(ctx, s, d, inst, live.target, "bake", a.Bake, func() window { return stableAll })
	if err != nil {
		s.mu.Lock()
		why := d.endedBy
		s.mu.Unlock()
		if why != "" {
			e.event(d.rel, "bake", release.LevelWarn, "bake ended: "+why, 0)
		}
		// An abort after the switch means nothing (the release is live);
		// shutdown or an exit during bake leaves it live for recovery or
		// the supervisor.
		return nil
	}
	if v.OK() {
		e.event(d.rel, "bake", release.LevelInfo, "bake passed: "+v.String(), a.Bake)
		return nil
	}
	e.autoRollback(s, d, v)
	return nil
}

// autoRollback sends all traffic back to the warm previous version after a
// failing analysis. By the same rule as a manual rollback, a rollback
// release (source "auto") takes the warm instance over, through the same
// cutover; the deploy's release becomes rolled_back in that same write.
func (e *Engine) autoRollback(s *service, d *deployment, v Verdict) {
	e.record(d.rel, func(r *release.Release) {
		r.Analysis = v.JSON()
		r.Error = "automatic rollback: " + v.String()
	})
	s.mu.Lock()
	w, bad := s.warm, s.live
	if w == nil || bad == nil || bad.rel != d.rel {
		s.mu.Unlock()
		e.event(d.rel, "rollback", release.LevelError, "analysis failed but no warm version is left to roll back to: "+v.String(), 0)
		return
	}
	req := Request{Service: s.spec().Name, Version: w.version, Kind: KindRollback,
		Note:   fmt.Sprintf("automatic: the analysis of %s failed during its bake", d.version),
		Source: release.Source{Kind: release.SourceAuto, Actor: "analysis"}}
	row := e.rowLocked(s, req, e.restoredRelease(e.ctx, s, w.version))
	s.mu.Unlock()
	row.State = release.Deploying
	if err := e.store.CreateRelease(e.ctx, row); err != nil {
		e.event(d.rel, "rollback", release.LevelError, "automatic rollback could not be recorded, so traffic stays on "+d.version+": "+err.Error(), 0)
		return
	}
	rd := newDeployment(row, req)
	e.event(rd.rel, "start", release.LevelInfo, fmt.Sprintf("rollback %s %s: the analysis of %s failed: %s", s.spec().Name, w.version, d.version, v.String()), 0)
	_, ok, err := e.warmRollback(e.ctx, s, rd.rel, w)
	if !ok {
		if err == nil {
			err = fmt.Errorf("the warm %s is gone; %s stays live: deploy or roll back by hand", w.version, d.version)
		}
		e.conclude(s, rd, err)
		e.event(d.rel, "rollback", release.LevelError, "automatic rollback failed: "+firstLine(err.Error()), 0)
		return
	}
	e.event(d.rel, "rollback", release.LevelError, fmt.Sprintf("automatic rollback: all traffic back on %s (release #%d) after the failing analysis", w.version, rd.rel), time.Since(rd.started))
	e.landed(s, rd, bad)
}

func fmtFlip(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d.Microseconds())/1000) }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
