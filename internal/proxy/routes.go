package proxy

import (
	"fmt"
	"sort"
	"strings"
)

// routeTable is the immutable host+prefix → service index read by every
// request through Proxy.table. It is rebuilt whole on every change, which is
// rare; nothing mutates a published table.
type routeTable struct {
	hosts    map[string][]route // normalised host → routes, longest prefix first
	wildcard []route            // routes of host "*", longest prefix first
}

// route is one prefix of one host. prefix is "" (everything) or a path
// starting with "/" and not ending with one.
type route struct {
	prefix string
	svc    *Service
}

// rebuildLocked publishes a new table built from p.services. Caller holds p.mu.
func (p *Proxy) rebuildLocked() {
	t := &routeTable{hosts: map[string][]route{}}
	for _, e := range p.services {
		for _, h := range e.hosts {
			r := route{prefix: e.prefix, svc: e.svc}
			if h == "*" {
				t.wildcard = append(t.wildcard, r)
			} else {
				t.hosts[h] = append(t.hosts[h], r)
			}
		}
	}
	byLength := func(rs []route) {
		sort.Slice(rs, func(i, j int) bool { return len(rs[i].prefix) > len(rs[j].prefix) })
	}
	for _, rs := range t.hosts {
		byLength(rs)
	}
	byLength(t.wildcard)
	p.table.Store(t)
}

// lookup returns the service for a request's Host header and path, or nil.
// It does not allocate for hosts that are already lower case.
func (t *routeTable) lookup(host, path string) *Service {
	if s := matchRoutes(t.hosts[hostKey(host)], path); s != nil {
		return s
	}
	return matchRoutes(t.wildcard, path)
}

func matchRoutes(rs []route, path string) *Service {
	for _, r := range rs {
		if hasPathPrefix(path, r.prefix) {
			return r.svc
		}
	}
	return nil
}

// hasPathPrefix reports whether prefix covers path on a segment boundary:
// "/api" covers "/api" and "/api/x" but not "/apix".
func hasPathPrefix(path, prefix string) bool {
	if prefix == "" {
		return true
	}
	return strings.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

// hostKey turns a Host header into the table's key: lower case, without
// port, brackets or a trailing dot. It allocates only for upper case.
func hostKey(h string) string {
	if strings.ContainsAny(h, ":[") {
		h = stripPort(h)
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			h = strings.ToLower(h)
			break
		}
	}
	return strings.TrimSuffix(h, ".")
}

// stripPort removes a port and IPv6 brackets: "[::1]:80" → "::1",
// "a.org:80" → "a.org"; a bare IPv6 address is left alone.
func stripPort(h string) string {
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			return h[1:end]
		}
		return h
	}
	if i := strings.IndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i+1:], ':') < 0 {
		return h[:i]
	}
	return h
}

// normaliseHosts validates configured hosts and returns their table keys.
func normaliseHosts(hosts []string) ([]string, error) {
	if len(hosts) == 0 {
		return nil, fmt.Errorf("no hosts (use \"*\" to match any host): %w", ErrInvalidRoute)
	}
	out := make([]string, 0, len(hosts))
	seen := map[string]bool{}
	for _, h := range hosts {
		if h != "*" && (strings.TrimSpace(h) != h || strings.ContainsAny(h, "/ \t?#@*") || hostKey(h) == "") {
			return nil, fmt.Errorf("host %q: %w", h, ErrInvalidRoute)
		}
		k := h
		if h != "*" {
			k = hostKey(h)
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}

// normalisePrefix validates a path prefix: "" and "/" mean everything; a
// trailing slash is dropped so "/api/" and "/api" are the same route.
func normalisePrefix(p string) (string, error) {
	if p == "" || p == "/" {
		return "", nil
	}
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# \t") {
		return "", fmt.Errorf("path prefix %q must start with / and hold no query: %w", p, ErrInvalidRoute)
	}
	return strings.TrimRight(p, "/"), nil
}

// displayPrefix shows the root prefix as "/" in messages.
func displayPrefix(p string) string {
	if p == "" {
		return "/"
	}
	return p
}
