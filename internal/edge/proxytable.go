package edge

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hotswap/hotswap/internal/proxy"
)

// ProxyTable installs generations into an internal/proxy.Proxy whose
// services (hosts, path prefixes, options) the edge's config has already
// set. Each route becomes the service's live target, switched atomically;
// the previous target drains in the background. A proxy target has one
// address today, so of a route's endpoints it takes the first on this node
// (Local), else the first, and Watch moves to another endpoint of the same
// version when that one stops answering (a lost node): a target list over
// every endpoint is the proxy's next step (see ARCHITECTURE.md, "Many
// hosts").
type ProxyTable struct {
	Proxy *proxy.Proxy
	// Local is this node's address; endpoints on it are preferred.
	Local string
	// DrainTimeout bounds the drain of a replaced target. Default 30s.
	DrainTimeout time.Duration
	Log          *slog.Logger

	// mu guards routes: the routes the last Install gave a target, by
	// service, endpoints in preference order. Install and Watch's switches
	// hold it; Watch's probes do not.
	mu     sync.Mutex
	routes map[string]Route
}

var _ Table = (*ProxyTable)(nil)

// Install implements Table. Every route's service must be configured in
// the proxy; otherwise nothing changes. Configured services without a
// route that an earlier Install routed are left without a live target
// (503): the generation is the whole routing.
func (t *ProxyTable) Install(routes []Route) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	type plan struct {
		svc    *proxy.Service
		target *proxy.Target
	}
	var plans []plan
	named := map[string]Route{}
	for _, r := range routes {
		svc, ok := t.Proxy.Service(r.Service)
		if !ok {
			return fmt.Errorf("service %s is not configured on this edge", r.Service)
		}
		r.Endpoints = t.order(r.Endpoints)
		named[r.Service] = r
		ep := r.Endpoints[0]
		if live := svc.Live(); live != nil && live.Version() == r.Version && live.Addr() == ep {
			continue
		}
		plans = append(plans, plan{svc: svc})
		target, err := svc.NewTarget(r.Version, ep)
		if err != nil {
			for _, p := range plans[:len(plans)-1] {
				t.drain(p.target)
			}
			return err
		}
		plans[len(plans)-1].target = target
	}
	for _, p := range plans {
		t.drain(p.svc.Switch(p.target))
	}
	for name := range t.routes {
		if _, ok := named[name]; !ok {
			if svc, ok := t.Proxy.Service(name); ok {
				t.drain(svc.Switch(nil))
			}
		}
	}
	t.routes = named
	return nil
}

// order puts the endpoints on this node first, keeping the given order
// otherwise.
func (t *ProxyTable) order(eps []string) []string {
	out := make([]string, 0, len(eps))
	for _, local := range []bool{true, false} {
		for _, ep := range eps {
			host, _, err := net.SplitHostPort(ep)
			if (err == nil && host == t.Local) == local {
				out = append(out, ep)
			}
		}
	}
	return out
}

// Watch checks every interval that each service's live endpoint still
// answers its health path, and when it does not, switches the service to
// the first other endpoint of the same version that does. It returns when
// ctx ends; its caller owns the goroutine. This is what takes a lost
// node's endpoint out of an edge's routing within one interval, before the
// leader's next generation does it everywhere.
func (t *ProxyTable) Watch(ctx context.Context, every time.Duration) error {
	prober := newProber()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		t.mu.Lock()
		routes := make([]Route, 0, len(t.routes))
		for _, r := range t.routes {
			routes = append(routes, r)
		}
		t.mu.Unlock()
		for _, r := range routes {
			t.failover(ctx, prober, r)
		}
	}
}

// failover probes r's live endpoint and, if it fails, moves r's service to
// the first healthy other endpoint, unless an Install changed r meanwhile.
func (t *ProxyTable) failover(ctx context.Context, prober *http.Client, r Route) {
	svc, ok := t.Proxy.Service(r.Service)
	if !ok {
		return
	}
	const agent = "hotswap-edge-watch"
	live := svc.Live()
	if live == nil || live.Version() != r.Version || probeOnce(ctx, prober, live.Addr(), r.HealthPath, agent) == nil {
		return
	}
	for _, ep := range r.Endpoints {
		if ep == live.Addr() || probeOnce(ctx, prober, ep, r.HealthPath, agent) != nil {
			continue
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if cur, ok := t.routes[r.Service]; !ok || cur.Version != r.Version || svc.Live() != live {
			return // a new generation or another switch came first
		}
		target, err := svc.NewTarget(r.Version, ep)
		if err != nil {
			return
		}
		t.drain(svc.Switch(target))
		if t.Log != nil {
			t.Log.Warn("endpoint failed its health check; moved to another", "service", r.Service,
				"version", r.Version, "from", live.Addr(), "to", ep)
		}
		return
	}
}

// drain retires a replaced target in the background.
func (t *ProxyTable) drain(old *proxy.Target) {
	if old == nil {
		return
	}
	d := t.DrainTimeout
	if d == 0 {
		d = 30 * time.Second
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		if err := old.Drain(ctx); err != nil && t.Log != nil {
			t.Log.Warn("drain", "version", old.Version(), "addr", old.Addr(), "err", err)
		}
	}()
}
