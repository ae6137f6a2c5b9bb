package edge

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hotswap/hotswap/internal/proxy"
)

// ProxyTable installs generations into an internal/proxy.Proxy whose
// services (hosts, path prefixes, options) the edge's config has already
// set. Each route becomes the service's live target, switched atomically;
// the previous target drains in the background. A proxy target has one
// address today, so of a route's endpoints it takes the first on this node
// (Local), else the first: a target list over every endpoint is the proxy's
// next step (see ARCHITECTURE.md, "Many hosts").
type ProxyTable struct {
	Proxy *proxy.Proxy
	// Local is this node's address; endpoints on it are preferred.
	Local string
	// DrainTimeout bounds the drain of a replaced target. Default 30s.
	DrainTimeout time.Duration
	Log          *slog.Logger

	// mu guards routed: the services the last Install gave a target.
	mu     sync.Mutex
	routed map[string]bool
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
	named := map[string]bool{}
	for _, r := range routes {
		svc, ok := t.Proxy.Service(r.Service)
		if !ok {
			return fmt.Errorf("service %s is not configured on this edge", r.Service)
		}
		named[r.Service] = true
		ep := t.pick(r.Endpoints)
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
	for name := range t.routed {
		if !named[name] {
			if svc, ok := t.Proxy.Service(name); ok {
				t.drain(svc.Switch(nil))
			}
		}
	}
	t.routed = named
	return nil
}

func (t *ProxyTable) pick(eps []string) string {
	for _, ep := range eps {
		if host, _, err := net.SplitHostPort(ep); err == nil && host == t.Local {
			return ep
		}
	}
	return eps[0]
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
