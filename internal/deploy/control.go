package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotswap/hotswap/internal/proxy"
	"github.com/hotswap/hotswap/internal/release"
	rt "github.com/hotswap/hotswap/internal/runtime"
)

// Settled reports whether a release has reached a state no deployment will
// move it out of by itself (the CLI stops following it there).
func Settled(s release.State) bool {
	return s != release.Queued && s != release.Deploying
}

// unrecordedEnd is how a deployment ended when the store could not record it.
type unrecordedEnd struct {
	state    release.State
	msg      string // the release's error
	storeErr string // why it could not be recorded
	at       time.Time
}

// recordLateEnds writes the ends the store refused before (see
// Unrecorded), as the next deployment starts and the store may accept
// writes again, so the history stops saying "deploying" about them.
func (e *Engine) recordLateEnds(ctx context.Context) {
	e.unrecorded.Range(func(k, v any) bool {
		id, end := k.(int64), v.(unrecordedEnd)
		err := e.store.UpdateRelease(ctx, id, func(r *release.Release) error {
			if !Settled(r.State) {
				r.State, r.Error, r.FinishedAt = end.state, end.msg, end.at
			}
			return nil
		})
		if err == nil {
			e.unrecorded.Delete(id)
			e.signalChange()
		}
		return true
	})
}

// Unrecorded reports the end of release id when its deployment ended but
// the store refused to record it (the row still says "deploying"): the
// state it should have, and why, saying it is not recorded. Traffic is
// where the record was last written, as the cutover order guarantees.
func (e *Engine) Unrecorded(id int64) (release.State, string, bool) {
	v, ok := e.unrecorded.Load(id)
	if !ok {
		return "", "", false
	}
	end := v.(unrecordedEnd)
	return end.state, end.msg + " (this end is not recorded: " + end.storeErr + ")", true
}

// Wait blocks until release id has settled, or ctx ends. A release whose
// end could not be recorded is returned with that end (see Unrecorded).
func (e *Engine) Wait(ctx context.Context, id int64) (*release.Release, error) {
	for {
		ch := e.Changed()
		r, err := e.store.GetRelease(ctx, id)
		if err != nil {
			return nil, err
		}
		if Settled(r.State) {
			return r, nil
		}
		if state, why, ok := e.Unrecorded(id); ok {
			r.State, r.Error = state, why
			return r, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return r, ctx.Err()
		}
	}
}

// Promote moves a deployment on: a held preview continues to the switch, a
// canary ends its current step early (the last step's promote is also the
// approval), a canary waiting for approval takes all traffic.
func (e *Engine) Promote(name string) (int64, error) { return e.command(name, cmdPromote) }

// Abort stops the running deployment of a service: a new version that has
// not taken traffic is removed; the live version keeps serving.
func (e *Engine) Abort(name string) (int64, error) { return e.command(name, cmdAbort) }

func (e *Engine) command(name string, c command) (int64, error) {
	s, err := e.service(name)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	d := s.active
	s.mu.Unlock()
	if d == nil {
		return 0, fmt.Errorf("%w for %s", ErrNoDeployment, name)
	}
	select {
	case d.control <- c:
	default:
	}
	if c == cmdAbort {
		d.cancel()
	}
	return d.rel, nil
}

// VersionStatus describes one running version of a service.
type VersionStatus struct {
	Version  string
	Release  int64
	Addr     string
	Since    time.Time
	InFlight int64
	// Healthy and HealthReason are the health watcher's last verdict
	// (an exited instance is unhealthy with how it ended); HealthSince is
	// when it last changed.
	Healthy      bool
	HealthReason string
	HealthSince  time.Time
	HealthCheck  time.Time // the watcher's last probe (zero: none yet)
	Traffic      proxy.Stats
}

// ActiveStatus describes the deployment in progress.
type ActiveStatus struct {
	Release int64
	Kind    release.Kind
	Version string
	Since   time.Time
}

// Status is one service as `hotswap status` shows it.
type Status struct {
	Service    string
	Hosts      []string
	PathPrefix string
	Live       *VersionStatus
	Warm       *VersionStatus
	Active     *ActiveStatus
	Queued     int
	// ClientErrors counts requests that failed because of their client
	// (malformed or broken-off body, timeout, client gone); they are in no
	// version's traffic figures and no analysis.
	ClientErrors uint64
	// PreviewSecret reaches the version held for preview (deploy --hold)
	// through the preview header or cookie; empty when none is held.
	PreviewSecret string
}

// Status reports every service (or only name, when given). It never probes:
// health is what each instance's watcher last concluded.
func (e *Engine) Status(ctx context.Context, name string) ([]Status, error) {
	names := e.Services()
	if name != "" {
		if _, err := e.service(name); err != nil {
			return nil, err
		}
		names = []string{name}
	}
	out := make([]Status, 0, len(names))
	for _, n := range names {
		s, err := e.service(n)
		if err != nil {
			continue // removed by a reload meanwhile
		}
		sp := s.spec()
		st := Status{Service: n, Hosts: sp.Hosts, PathPrefix: sp.PathPrefix, ClientErrors: s.route.ClientErrors(),
			PreviewSecret: s.route.PreviewSecret()}
		s.mu.Lock()
		live, warm := s.live, s.warm
		if s.active != nil {
			st.Active = &ActiveStatus{Release: s.active.rel, Kind: s.active.kind, Version: s.active.version, Since: s.active.started}
		}
		st.Queued = len(s.queue)
		s.mu.Unlock()
		st.Live = versionStatus(live)
		st.Warm = versionStatus(warm)
		out = append(out, st)
	}
	return out, nil
}

func versionStatus(sl *slot) *VersionStatus {
	if sl == nil {
		return nil
	}
	h := sl.healthState()
	vs := &VersionStatus{Version: sl.version, Release: sl.rel, Addr: sl.inst.Addr(), Since: sl.since,
		InFlight: sl.target.InFlight(), Traffic: sl.target.Stats(),
		Healthy: h.healthy, HealthReason: h.reason, HealthSince: h.since, HealthCheck: h.checked}
	if ex, ok := sl.inst.Exit(); ok {
		vs.Healthy, vs.HealthReason, vs.HealthSince = false, "exited: "+ex.String(), ex.At
	}
	return vs
}

// Running reports whether release id is still being worked on by a
// deployment (its steps may still grow), even if its state has settled.
func (e *Engine) Running(id int64) bool {
	e.svcMu.RLock()
	defer e.svcMu.RUnlock()
	for _, s := range e.services {
		s.mu.Lock()
		active := s.active != nil && s.active.rel == id
		s.mu.Unlock()
		if active {
			return true
		}
	}
	return false
}

// MaxLogLines bounds one Logs call.
const MaxLogLines = 10000

// Logs returns up to n of the most recent output lines of a version's
// instance: the live one by default, else the named version's — running
// (live or warm) or a kept, stopped one whose output the runtime still has.
func (e *Engine) Logs(ctx context.Context, name, version string, n int) (string, []string, error) {
	s, err := e.service(name)
	if err != nil {
		return "", nil, err
	}
	if n <= 0 || n > MaxLogLines {
		n = 100
	}
	s.mu.Lock()
	var inst rt.Instance
	for _, sl := range []*slot{s.live, s.warm} {
		if sl != nil && (version == "" || sl.version == version) {
			inst, version = sl.inst, sl.version
			break
		}
	}
	s.mu.Unlock()
	if inst == nil {
		if version == "" {
			return "", nil, fmt.Errorf("%w: %s has no live version", release.ErrNotFound, name)
		}
		if err := s.spec().Versions.Validate(version); err != nil {
			return "", nil, err
		}
		r, err := e.store.FindVersion(ctx, name, version)
		if err != nil {
			return "", nil, fmt.Errorf("%s %s: %w", name, version, err)
		}
		if r.InstanceID == "" {
			return "", nil, fmt.Errorf("%w: no instance of %s %s is kept", release.ErrNotFound, name, version)
		}
		if inst, err = s.spec().Runtime.Adopt(ctx, r.InstanceID); errors.Is(err, rt.ErrNotFound) {
			return "", nil, fmt.Errorf("%w: the instance of %s %s is gone (a stopped process's output is only in its log file under the state directory)",
				release.ErrNotFound, name, version)
		} else if err != nil {
			return "", nil, fmt.Errorf("%s %s: %w", name, version, err)
		}
	}
	lines, err := inst.Logs(ctx, n)
	if err != nil {
		return version, nil, fmt.Errorf("logs of %s %s: %w", name, version, err)
	}
	return version, lines, nil
}
