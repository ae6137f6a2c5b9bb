package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/deploy"
	"github.com/hotswap/hotswap/internal/notify"
	"github.com/hotswap/hotswap/internal/release"
	"github.com/hotswap/hotswap/internal/webhook"
)

// remoteMux is what the TCP listener serves: the token-protected API, the
// signed webhook endpoints and, if enabled, Prometheus metrics.
func (d *Daemon) remoteMux() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle("/v1/", d.api.RemoteHandler())
	hooks, err := d.webhookHandler()
	if err != nil {
		return nil, err
	}
	if hooks != nil {
		mux.Handle("/hooks/", hooks)
	}
	if d.dash != nil {
		mux.Handle("/ui/", d.dash)
		mux.Handle("/ui", d.dash)
	}
	if d.cfg.Control.Metrics {
		reg := prometheus.NewRegistry()
		reg.MustRegister(d.proxy.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	return mux, nil
}

// webhookHandler builds the CI webhook endpoints, or nil when no service
// has a webhook secret configured. The service set it consults is the
// daemon's current one: a reload replaces it (d.hooks).
func (d *Daemon) webhookHandler() (http.Handler, error) {
	svcs, any := d.hookServices(d.cfg)
	d.hooks.Store(&svcs)
	if !any {
		return nil, nil
	}
	d.hooksMounted = true
	opts := webhook.Options{Services: currentHooks{&d.hooks}, Enqueuer: hookEnqueuer{d.engine}, Auditor: hookAuditor{d.store, d}, Logger: d.log,
		MaxBody: int64(d.cfg.Webhooks.MaxBody), Replay: d.store}
	if g := d.cfg.Webhooks.Generic; g != nil && g.Window > 0 {
		opts.Window = g.Window
	}
	h, err := webhook.New(opts)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return h, nil
}

// hookServices is what the webhook endpoints know of cfg's services, and
// whether any of them takes webhooks.
func (d *Daemon) hookServices(cfg *config.Config) (hookServices, bool) {
	svcs := hookServices{}
	any := false
	for i := range cfg.Services {
		sc := &cfg.Services[i]
		w := cfg.WebhooksFor(sc)
		s := webhook.Service{Name: sc.Name, Versions: d.versions[sc.Name]}
		if sc.Docker != nil {
			s.Image = sc.Docker.Image
		}
		if w.GitHub != nil && w.GitHub.Secret.IsSet() {
			s.GitHubSecret = []byte(w.GitHub.Secret.Value())
		}
		if w.Generic != nil && w.Generic.Secret.IsSet() {
			s.GenericSecret = []byte(w.Generic.Secret.Value())
		}
		if w.DockerHub != nil && w.DockerHub.PathToken.IsSet() {
			s.DockerHubToken = []byte(w.DockerHub.PathToken.Value())
		}
		any = any || s.GitHubSecret != nil || s.GenericSecret != nil || s.DockerHubToken != nil
		svcs[sc.Name] = s
	}
	return svcs, any
}

// currentHooks is the webhook package's view of the daemon's services as of
// each request (webhook.Services is consulted on every request).
type currentHooks struct{ p *atomic.Pointer[hookServices] }

func (c currentHooks) Lookup(name string) (webhook.Service, bool) { return (*c.p.Load()).Lookup(name) }
func (c currentHooks) All() []webhook.Service                     { return (*c.p.Load()).All() }

// hookServices is the webhook package's view of the configured services.
type hookServices map[string]webhook.Service

func (h hookServices) Lookup(name string) (webhook.Service, bool) { s, ok := h[name]; return s, ok }

func (h hookServices) All() []webhook.Service {
	out := make([]webhook.Service, 0, len(h))
	for _, s := range h {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// hookEnqueuer queues webhook deploys on the engine: serialised per service,
// a newer version superseding older queued ones, a delivery id seen before
// answered with its first release.
type hookEnqueuer struct{ e *deploy.Engine }

func (h hookEnqueuer) Enqueue(ctx context.Context, r webhook.Request) (int64, bool, error) {
	rel, dup, err := h.e.SubmitIdempotent(ctx, deploy.Request{
		Service: r.Service, Version: r.Version, Kind: deploy.KindDeploy, Note: r.Note, Commit: r.Commit, Author: r.Author,
		Source: release.Source{Kind: release.SourceWebhook, Actor: r.Author, WebhookKind: string(r.WebhookKind), DeliveryID: r.DeliveryID},
		Queue:  true,
	})
	if errors.Is(err, deploy.ErrUnknownService) {
		return 0, false, fmt.Errorf("%w: %v", webhook.ErrUnknownService, err)
	}
	if errors.Is(err, deploy.ErrClosed) {
		return 0, false, fmt.Errorf("%w: %v", webhook.ErrUnavailable, err)
	}
	if err != nil {
		return 0, false, err
	}
	return rel.ID, dup, nil
}

// hookAuditor writes every webhook request, accepted or not, to the audit log.
type hookAuditor struct {
	store *release.Store
	d     *Daemon
}

func (h hookAuditor) Audit(ctx context.Context, e webhook.Entry) {
	outcome := release.OutcomeRejected
	switch e.Outcome {
	case webhook.OutcomeAccepted, webhook.OutcomeDuplicate, webhook.OutcomeIgnored:
		outcome = release.OutcomeOK
	}
	detail := fmt.Sprintf("%s %d %s", e.Outcome, e.Status, e.Reason)
	if e.DeployID != 0 {
		detail += fmt.Sprintf(" release #%d", e.DeployID)
	}
	if e.DeliveryID != "" {
		detail += " delivery " + e.DeliveryID
	}
	a := release.Audit{At: e.At, Actor: "webhook:" + string(e.Kind), Source: release.SourceWebhook,
		Action: "webhook " + e.Event, Service: e.Service, Version: e.Version, Outcome: outcome, Detail: detail, Remote: e.Remote}
	if outcome == release.OutcomeRejected {
		h.d.api.Rejects().Record(ctx, a) // a flood of bad deliveries writes a summary, not a row each
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := h.store.AppendAudit(actx, a); err != nil {
		h.d.log.Error("audit webhook", "err", err)
	}
}

// buildNotifier turns the notify config into sinks; nil when none.
func (d *Daemon) buildNotifier() (deploy.Notifier, error) {
	if len(d.cfg.Notify) == 0 {
		return nil, nil
	}
	var sinks []notify.Sink
	for i, n := range d.cfg.Notify {
		var kinds []notify.Kind
		for _, ev := range n.Events {
			k, err := notify.ParseKind(ev)
			if err != nil {
				return nil, fmt.Errorf("notify[%d]: %w", i, err)
			}
			kinds = append(kinds, k)
		}
		so := notify.SinkOptions{Name: fmt.Sprintf("%s#%d", n.Kind, i), Kinds: kinds}
		var s *notify.HTTPSink
		var err error
		switch n.Kind {
		case config.NotifySlack:
			s, err = notify.NewSlack(n.URL.Value(), so)
		case config.NotifyDiscord:
			s, err = notify.NewDiscord(n.URL.Value(), so)
		default:
			s, err = notify.NewWebhook(n.URL.Value(), nil, so)
		}
		if err != nil {
			return nil, fmt.Errorf("notify[%d]: %w", i, err)
		}
		sinks = append(sinks, s)
	}
	n := notify.New(sinks, notify.Options{Logger: d.log})
	d.closer = append(d.closer, func() error {
		// Queued notifications get a few seconds to go out; a receiver that is
		// down must not hold up (or fail) a shutdown, so what is left is logged.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			d.log.Warn("notifications not delivered before shutdown", "err", err)
		}
		return nil
	})
	return notifierAdapter{n: n, rollbackLink: d.rollbackLinker()}, nil
}

// notifierAdapter turns engine notifications into notify events. A
// successful deploy's message carries a signed link to the dashboard's
// confirmation page for rolling it back, when the dashboard has a public URL.
type notifierAdapter struct {
	n            *notify.Notifier
	rollbackLink func(service string, rel int64) string // nil: no links
}

func (a notifierAdapter) Notify(ev deploy.Notification) {
	k, err := notify.ParseKind(ev.Kind)
	if err != nil {
		return // a kind the sinks do not know: nothing to send
	}
	out := notify.Event{Kind: k, Service: ev.Service, Version: ev.Version, PreviousVersion: ev.PreviousVersion,
		ReleaseID: ev.ReleaseID, Actor: ev.Actor, Reason: ev.Reason, Automatic: ev.Automatic, At: ev.At, Duration: ev.Duration}
	if k == notify.KindSucceeded && a.rollbackLink != nil && ev.ReleaseID != 0 {
		out.RollbackURL = a.rollbackLink(ev.Service, ev.ReleaseID)
	}
	a.n.Notify(out)
}
