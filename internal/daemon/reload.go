package daemon

import (
	"context"
	"fmt"
	"reflect"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/deploy"
)

// errReload marks a reload refused before anything changed (the API
// answers 400, the CLI exits with the usage code).
var errReload = api.ErrReloadRefused

// Reload reads the config file again (Options.ConfigPath) and applies it:
// see ReloadConfig. SIGHUP and `hotswap reload` call it.
func (d *Daemon) Reload(ctx context.Context) (api.ReloadResult, error) {
	if d.opts.ConfigPath == "" {
		return api.ReloadResult{}, fmt.Errorf("%w: the daemon was not started from a config file", errReload)
	}
	cfg, err := config.Load(d.opts.ConfigPath)
	if err != nil {
		return api.ReloadResult{}, fmt.Errorf("%w:\n%w", errReload, err)
	}
	return d.ReloadConfig(ctx, cfg)
}

// ReloadConfig applies a new, already validated configuration: the whole
// of it is checked and every new runtime built before anything changes, so
// an error changes nothing. Then services are added (routed; nothing serves
// them until a deploy), updated (routes at once; a change to what an
// instance is rolls the live version out as a health-gated release of kind
// config) and removed (new requests get 404, in-flight ones drain, the
// instances stop). Services whose configuration did not change are not
// touched: their connections and streams go on.
//
// The proxy's per-request settings (timeouts, request buffer, ready path
// and services, request ids, health path) are swapped in atomically once
// the services are in place, and certificate files are read again. What a
// reload cannot change (state_dir, the listeners and what is bound to them:
// proxy.listen, proxy.tls, proxy.read_header_timeout, proxy.idle_timeout,
// proxy.access_log; control, tokens, webhooks, notifications) must stay as
// it is; a difference is an error naming the key — restart hotswap for
// those.
func (d *Daemon) ReloadConfig(ctx context.Context, cfg *config.Config) (api.ReloadResult, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	var res api.ReloadResult
	if err := fixedSettings(d.cfg, cfg); err != nil {
		return res, err
	}
	old := map[string]*config.Service{}
	for i := range d.cfg.Services {
		old[d.cfg.Services[i].Name] = &d.cfg.Services[i]
	}
	type change struct {
		spec deploy.ServiceSpec
		add  bool
	}
	var changes []change
	seen := map[string]bool{}
	for i := range cfg.Services {
		sc := &cfg.Services[i]
		seen[sc.Name] = true
		prev, ok := old[sc.Name]
		if ok && reflect.DeepEqual(prev, sc) {
			res.Unchanged = append(res.Unchanged, sc.Name)
			continue
		}
		sp, err := d.buildService(ctx, sc)
		if err != nil {
			return api.ReloadResult{}, fmt.Errorf("%w: %w", errReload, err)
		}
		changes = append(changes, change{spec: sp, add: !ok})
	}
	hooks, anyHooks := d.hookServices(cfg) // versions of new services are compiled by now
	if anyHooks && !d.hooksMounted && cfg.Control.Listen != "" {
		return api.ReloadResult{}, fmt.Errorf("%w: a service takes webhooks now, but no webhook endpoint was mounted at start; restart hotswap", errReload)
	}
	// Validated and built: apply.
	for _, c := range changes {
		if c.add {
			if err := d.engine.AddService(ctx, c.spec); err != nil {
				return res, fmt.Errorf("add service %s: %w", c.spec.Name, err)
			}
			res.Added = append(res.Added, c.spec.Name)
			continue
		}
		rel, err := d.engine.UpdateService(ctx, c.spec)
		if err != nil {
			return res, fmt.Errorf("update service %s: %w", c.spec.Name, err)
		}
		u := api.ReloadedService{Service: c.spec.Name}
		if rel != nil {
			u.ConfigRelease = rel.ID
		}
		res.Updated = append(res.Updated, u)
	}
	for name := range old {
		if seen[name] {
			continue
		}
		if err := d.engine.RemoveService(ctx, name); err != nil {
			return res, err
		}
		res.Removed = append(res.Removed, name)
	}
	if !reflect.DeepEqual(d.cfg.Proxy, cfg.Proxy) {
		if err := d.proxy.SetOptions(proxyOptions(cfg.Proxy, d.log)); err != nil {
			return res, err // validated config: not expected
		}
		res.Proxy = true
	}
	if d.tls != nil {
		if err := d.tls.certs.Reload(); err != nil {
			// The old certificate keeps serving; the manager alerts too.
			d.log.Error("reload certificate files", "err", err)
		}
	}
	d.cfg = cfg
	d.hooks.Store(&hooks)
	d.log.Info("configuration reloaded", "added", res.Added, "removed", res.Removed, "updated", len(res.Updated), "unchanged", res.Unchanged)
	return res, nil
}

// fixedSettings refuses a reload that changes what only a restart can.
func fixedSettings(cur, next *config.Config) error {
	var bad []string
	check := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			bad = append(bad, key)
		}
	}
	check("state_dir", cur.StateDir, next.StateDir)
	check("proxy.listen", cur.Proxy.Listen, next.Proxy.Listen)
	check("proxy.tls", cur.Proxy.TLS, next.Proxy.TLS)
	check("proxy.read_header_timeout", cur.Proxy.ReadHeaderTimeout, next.Proxy.ReadHeaderTimeout)
	check("proxy.idle_timeout", cur.Proxy.IdleTimeout, next.Proxy.IdleTimeout)
	check("proxy.access_log", cur.Proxy.AccessLog, next.Proxy.AccessLog)
	check("control", cur.Control, next.Control)
	check("webhooks", cur.Webhooks, next.Webhooks)
	check("notify", cur.Notify, next.Notify)
	for i := range next.Services {
		if prev, ok := cur.Service(next.Services[i].Name); ok {
			check(fmt.Sprintf("services[%d].webhooks", i), cur.WebhooksFor(prev), next.WebhooksFor(&next.Services[i]))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %v cannot change on reload; restart hotswap to change them", errReload, bad)
	}
	return nil
}
