package proxy

// Hosts lists the host names routed now, exactly as matched (lower case,
// no port; the catch-all "*" is not a name). The TLS layer asks it which
// names may get a certificate, so the answer follows the route table.
func (p *Proxy) Hosts() []string {
	t := p.table.Load()
	out := make([]string, 0, len(t.hosts))
	for h := range t.hosts {
		out = append(out, h)
	}
	return out
}

// Route names the service a request for host and path goes to, or "" when
// none does; the same lookup ServeHTTP makes.
func (p *Proxy) Route(host, path string) string {
	if s := p.table.Load().lookup(host, path); s != nil {
		return s.name
	}
	return ""
}
