package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/dashboard"
	"github.com/hotswap/hotswap/internal/deploy"
	"github.com/hotswap/hotswap/internal/proxy"
	"github.com/hotswap/hotswap/internal/release"
)

// This file is the one place the dashboard meets the engine, the store and
// the proxy: it turns their types into the dashboard's views. When the
// engine or the API change shape, only this file follows.

// dashboardKeyFile holds the key that signs rollback links, in state_dir.
const dashboardKeyFile = "dashboard.key"

// loadDashboardKey reads (or creates) the link-signing key when the
// dashboard is enabled; nil otherwise.
func (d *Daemon) loadDashboardKey() error {
	if !d.cfg.Dashboard.Enabled {
		return nil
	}
	key, err := dashboard.LoadKey(filepath.Join(d.cfg.StateDir, dashboardKeyFile))
	d.dashKey = key
	return err
}

// buildDashboard creates the dashboard handler when enabled (after the
// engine exists). Tokens log in with their role.
func (d *Daemon) buildDashboard() error {
	c := d.cfg.Dashboard
	if !c.Enabled {
		return nil
	}
	tokens := make([]dashboard.Token, 0, len(d.cfg.Control.Tokens))
	for _, t := range d.cfg.Control.Tokens {
		tokens = append(tokens, dashboard.Token{Name: t.Name, Secret: []byte(t.Token.Value()), CanAct: t.Role != config.RoleViewer})
	}
	h, err := dashboard.New(dashboard.Options{Backend: dashboardBackend{d}, Tokens: tokens, PublicURL: c.PublicURL,
		CommitURL: c.CommitURL, SessionTTL: c.SessionTTL, LinkKey: d.dashKey, Log: d.log})
	if err != nil {
		return err
	}
	d.dash = h
	return nil
}

// rollbackLinker signs links to the dashboard's rollback confirmation for
// notifications; nil without a dashboard or its public URL.
func (d *Daemon) rollbackLinker() func(service string, rel int64) string {
	c := d.cfg.Dashboard
	if !c.Enabled || c.PublicURL == "" || d.dashKey == nil {
		return nil
	}
	key := d.dashKey
	return func(service string, rel int64) string {
		return dashboard.RollbackLink(key, c.PublicURL, service, rel, time.Now().Add(c.LinkTTL))
	}
}

// dashboardBackend implements dashboard.Backend over the daemon's parts.
type dashboardBackend struct{ d *Daemon }

var _ dashboard.Backend = dashboardBackend{}

func (b dashboardBackend) Services(ctx context.Context) ([]dashboard.ServiceView, error) {
	sts, err := b.d.engine.Status(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]dashboard.ServiceView, len(sts))
	for i, s := range sts {
		v := dashboard.ServiceView{Name: s.Service, Hosts: s.Hosts, Live: versionView(s.Live), Warm: versionView(s.Warm), Queued: s.Queued}
		if sc, ok := b.d.cfg.Service(s.Service); ok && s.Warm != nil {
			v.WarmUntil = s.Warm.Since.Add(sc.WarmFor)
		}
		if a := s.Active; a != nil {
			v.Active = &dashboard.ActiveView{Release: a.Release, Kind: string(a.Kind), Version: a.Version, Since: a.Since}
			if route, ok := b.d.proxy.Service(s.Service); ok {
				if t, pct := route.Canary(); t != nil {
					v.Canary, v.CanaryPercent = targetView(t, a.Release), pct
				}
				if t := route.Preview(); t != nil {
					v.Preview = targetView(t, a.Release)
				}
			}
		}
		out[i] = v
	}
	return out, nil
}

func versionView(vs *deploy.VersionStatus) *dashboard.VersionView {
	if vs == nil {
		return nil
	}
	health := "healthy"
	if !vs.Healthy {
		health = "unhealthy: " + vs.HealthReason
	}
	return &dashboard.VersionView{Version: vs.Version, Release: vs.Release, Since: vs.Since, Health: health,
		InFlight: vs.InFlight, Requests: vs.Traffic.Requests, Errors: vs.Traffic.ServerErrors(), P95: vs.Traffic.Latency.Quantile(0.95)}
}

// targetView is a canary or preview target, owned by the active release
// (its health was checked before it got traffic; it is not probed here).
func targetView(t *proxy.Target, rel int64) *dashboard.VersionView {
	st := t.Stats()
	return &dashboard.VersionView{Version: t.Version(), Release: rel, InFlight: t.InFlight(),
		Requests: st.Requests, Errors: st.ServerErrors(), P95: st.Latency.Quantile(0.95)}
}

func (b dashboardBackend) Releases(ctx context.Context, service string, limit int) ([]dashboard.ReleaseView, error) {
	rels, err := b.d.store.ListReleases(ctx, service, limit)
	if err != nil {
		return nil, err
	}
	out := make([]dashboard.ReleaseView, len(rels))
	for i := range rels {
		out[i] = b.releaseView(&rels[i])
	}
	return out, nil
}

func (b dashboardBackend) releaseView(r *release.Release) dashboard.ReleaseView {
	trigger := string(r.Source.Kind)
	if r.Source.WebhookKind != "" {
		trigger += " (" + r.Source.WebhookKind + ")"
	}
	return dashboard.ReleaseView{ID: r.ID, Service: r.Service, Version: r.Version, Kind: string(r.Kind), State: string(r.State),
		Strategy: r.Strategy, Trigger: trigger, Actor: r.Source.Actor, Note: r.Note, Commit: r.GitCommit, Error: r.Error,
		Created: r.CreatedAt, Duration: r.Duration(), Settled: deploy.Settled(r.State) && !b.d.engine.Running(r.ID)}
}

func (b dashboardBackend) Release(ctx context.Context, id int64) (dashboard.ReleaseView, []dashboard.StepView, error) {
	r, err := b.d.store.GetRelease(ctx, id)
	if errors.Is(err, release.ErrNotFound) {
		return dashboard.ReleaseView{}, nil, fmt.Errorf("release #%d: %w", id, dashboard.ErrNotFound)
	}
	if err != nil {
		return dashboard.ReleaseView{}, nil, err
	}
	evs, err := b.d.store.Events(ctx, id, 0)
	if err != nil {
		return dashboard.ReleaseView{}, nil, err
	}
	steps := make([]dashboard.StepView, len(evs))
	for i, e := range evs {
		steps[i] = dashboard.StepView{ID: e.ID, At: e.At, Step: e.Step, Level: string(e.Level), Message: e.Message, Duration: e.Duration}
	}
	return b.releaseView(r), steps, nil
}

func (b dashboardBackend) Audit(ctx context.Context, service string, limit int) ([]dashboard.AuditView, error) {
	as, err := b.d.store.ListAudit(ctx, limit, service)
	if err != nil {
		return nil, err
	}
	out := make([]dashboard.AuditView, len(as))
	for i, a := range as {
		out[i] = dashboard.AuditView{At: a.At, Actor: a.Actor, Source: string(a.Source), Action: a.Action, Service: a.Service,
			Version: a.Version, Outcome: string(a.Outcome), Detail: a.Detail, Remote: a.Remote}
	}
	return out, nil
}

func (b dashboardBackend) Act(ctx context.Context, a dashboard.Action) (int64, error) {
	src := release.Source{Kind: release.SourceDashboard, Actor: a.Actor}
	switch a.Kind {
	case dashboard.ActDeploy, dashboard.ActRollback:
		kind := deploy.KindDeploy
		if a.Kind == dashboard.ActRollback {
			kind = deploy.KindRollback
		}
		rel, err := b.d.engine.Submit(ctx, deploy.Request{Service: a.Service, Version: a.Version, Kind: kind, Note: a.Note, Source: src})
		if err != nil {
			return 0, err
		}
		return rel.ID, nil
	case dashboard.ActPromote:
		return b.d.engine.Promote(a.Service)
	case dashboard.ActAbort:
		return b.d.engine.Abort(a.Service)
	}
	return 0, fmt.Errorf("unknown action %q", a.Kind)
}

func (b dashboardBackend) Record(ctx context.Context, e dashboard.AuditView) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.d.store.AppendAudit(ctx, release.Audit{At: e.At, Actor: e.Actor, Source: release.SourceDashboard, Action: e.Action,
		Service: e.Service, Version: e.Version, Outcome: release.Outcome(e.Outcome), Detail: e.Detail, Remote: e.Remote}); err != nil {
		b.d.log.Error("audit", "action", e.Action, "err", err)
	}
}

func (b dashboardBackend) Changed() <-chan struct{} { return b.d.engine.Changed() }
