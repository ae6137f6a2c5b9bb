package config

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// minSecretLen keeps bearer tokens and webhook secrets out of reach of
// guessing; 16 random characters is already far more than needed.
const minSecretLen = 16

var (
	tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// urlSafeRE: characters that survive in a URL path unescaped.
	urlSafeRE = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)
)

func (c *Config) validate(p *problems) {
	if c.StateDir == "" {
		p.add("state_dir", "required")
	}
	c.validateProxy(p)
	c.validateTLS(p)
	c.validateControl(p)

	if len(c.Services) == 0 {
		p.add("services", "at least one service is required")
	}
	names := map[string]int{}
	type route struct{ host, prefix string }
	routes := map[route]int{}
	for i := range c.Services {
		s := &c.Services[i]
		path := indexPath("services", i)
		s.validate(p, path)
		if j, dup := names[s.Name]; dup && s.Name != "" {
			p.add(path+".name", "%q is already the name of services[%d]", s.Name, j)
		} else {
			names[s.Name] = i
		}
		for k, h := range s.Hosts {
			r := route{h, s.PathPrefix}
			if j, dup := routes[r]; dup && j != i {
				p.add(indexPath(path+".hosts", k), "host %s%s is already routed to service %q", h, s.PathPrefix, c.Services[j].Name)
			} else {
				routes[r] = i
			}
		}
		if s.Webhooks != nil {
			validateWebhooks(p, path+".webhooks", s.Webhooks, false)
			if c.Control.Listen == "" && s.Webhooks.any() {
				p.add(path+".webhooks", "webhooks arrive on control.listen, which is not set")
			}
		}
	}

	validateWebhooks(p, "webhooks", &c.Webhooks, true)
	if c.Control.Listen == "" && c.Webhooks.any() {
		p.add("webhooks", "webhooks arrive on control.listen, which is not set")
	}
	for i := range c.Notify {
		c.Notify[i].validate(p, indexPath("notify", i))
	}
	c.validateDashboard(p)
}

func (c *Config) validateDashboard(p *problems) {
	d := &c.Dashboard
	if d.Enabled && c.Control.Listen == "" {
		p.add("dashboard.enabled", "the dashboard is served on control.listen, which is not set")
	}
	if d.PublicURL != "" {
		if u, err := url.Parse(d.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("dashboard.public_url", "%q must be an absolute http or https URL", d.PublicURL)
		}
	}
	if d.CommitURL != "" {
		u, err := url.Parse(strings.ReplaceAll(d.CommitURL, "{commit}", "x"))
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			p.add("dashboard.commit_url", "%q must be an absolute http or https URL", d.CommitURL)
		case !strings.Contains(d.CommitURL, "{commit}"):
			p.add("dashboard.commit_url", "%q must contain {commit}", d.CommitURL)
		}
	}
	positive(p, "dashboard.session_ttl", d.SessionTTL)
	positive(p, "dashboard.link_ttl", d.LinkTTL)
}

func (c *Config) validateProxy(p *problems) {
	checkListen(p, "proxy.listen", c.Proxy.Listen, true)
	if hp := c.Proxy.HealthPath; hp != "" && !strings.HasPrefix(hp, "/") {
		p.add("proxy.health_path", "%q must start with /", hp)
	}
	positive(p, "proxy.read_header_timeout", c.Proxy.ReadHeaderTimeout)
	positive(p, "proxy.idle_timeout", c.Proxy.IdleTimeout)
	positive(p, "proxy.response_header_timeout", c.Proxy.ResponseHeaderTimeout)
	positive(p, "proxy.send_timeout", c.Proxy.SendTimeout)
	positive(p, "proxy.client_body_timeout", c.Proxy.ClientBodyTimeout)
	if rp := c.Proxy.ReadyPath; rp != "" && (!strings.HasPrefix(rp, "/") || rp == c.Proxy.HealthPath) {
		p.add("proxy.ready_path", "%q must start with / and differ from health_path", rp)
	}
	for i, name := range c.Proxy.ReadyServices {
		if !slices.ContainsFunc(c.Services, func(s Service) bool { return s.Name == name }) {
			p.add(indexPath("proxy.ready_services", i), "no service is named %q", name)
		}
	}
}

func (c *Config) validateControl(p *problems) {
	ctl := &c.Control
	if ctl.AuditMaxAge < time.Hour {
		p.add("control.audit_max_age", "%s is too short: at least 1h", ctl.AuditMaxAge)
	}
	if ctl.AuditMaxRows < 100 {
		p.add("control.audit_max_rows", "%d is too few: at least 100", ctl.AuditMaxRows)
	}
	if ctl.Listen != "" {
		checkListen(p, "control.listen", ctl.Listen, true)
		if len(ctl.Tokens) == 0 {
			p.add("control.listen", "needs at least one entry in control.tokens: the TCP API is never open without a token")
		}
	} else if len(ctl.Tokens) > 0 {
		p.add("control.tokens", "tokens are only used by control.listen, which is not set")
	}
	names := map[string]int{}
	values := map[string]int{}
	for i, t := range ctl.Tokens {
		path := indexPath("control.tokens", i)
		switch j, dup := names[t.Name]; {
		case t.Name == "":
			p.add(path+".name", "required")
		case !tokenNameRE.MatchString(t.Name):
			p.add(path+".name", "%q may hold only letters, digits, - and _", t.Name)
		case dup:
			p.add(path+".name", "%q is already the name of control.tokens[%d]", t.Name, j)
		default:
			names[t.Name] = i
		}
		if t.Role != RoleViewer && t.Role != RoleDeployer {
			p.add(path+".role", "%q is not a role (want viewer or deployer)", t.Role)
		}
		if checkSecret(p, path+".token", "token", t.Token, true) {
			if j, dup := values[t.Token.Value()]; dup {
				p.add(path+".token", "same token as control.tokens[%d]: give each holder its own, so the audit log can tell them apart", j)
			} else {
				values[t.Token.Value()] = i
			}
		}
	}
}

// any reports whether at least one webhook is configured.
func (w *Webhooks) any() bool { return w.GitHub != nil || w.Generic != nil || w.DockerHub != nil }

func validateWebhooks(p *problems, path string, w *Webhooks, top bool) {
	if g := w.GitHub; g != nil {
		checkSecret(p, path+".github.secret", "secret", g.Secret, true)
	}
	if g := w.Generic; g != nil {
		checkSecret(p, path+".generic.secret", "secret", g.Secret, true)
		positive(p, path+".generic.window", g.Window)
	}
	if d := w.DockerHub; d != nil {
		if checkSecret(p, path+".dockerhub.path_token", "path_token", d.PathToken, true) &&
			!urlSafeRE.MatchString(d.PathToken.Value()) {
			p.add(path+".dockerhub.path_token", "may hold only letters, digits and -._~ (it is part of a URL)")
		}
	}
	switch {
	case top && w.MaxBody <= 0:
		p.add(path+".max_body", "must be positive")
	case w.MaxBody < 0:
		p.add(path+".max_body", "must not be negative")
	}
}

func (n *Notify) validate(p *problems, path string) {
	switch n.Kind {
	case NotifySlack, NotifyDiscord, NotifyWebhook:
	case "":
		p.add(path+".kind", "required (slack, discord or webhook)")
	default:
		p.add(path+".kind", "%q is not one of slack, discord, webhook", n.Kind)
	}
	if checkSecret(p, path+".url", "url", n.URL, false) {
		// The URL is a secret: say what is wrong without echoing it.
		u, err := url.Parse(n.URL.Value())
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add(path+".url", "not an http:// or https:// URL (from %s)", n.URL.Source())
		}
	}
	if len(n.Events) == 0 {
		p.add(path+".events", "empty: leave the key out to receive every event")
	}
	seen := map[string]bool{}
	for i, e := range n.Events {
		switch {
		case !slices.Contains(NotifyEvents, e):
			p.add(indexPath(path+".events", i), "unknown event %q (known: %s)", e, strings.Join(NotifyEvents, ", "))
		case seen[e]:
			p.add(indexPath(path+".events", i), "%q is listed twice", e)
		}
		seen[e] = true
	}
}

// checkSecret reports a missing or, when strong is set, short secret,
// without ever echoing it. It returns whether the secret is present.
func checkSecret(p *problems, path, base string, s Secret, strong bool) bool {
	if !s.IsSet() {
		p.add(path, "required (set %s_env, %s_file or %s)", base, base, base)
		return false
	}
	if strong && len(s.Value()) < minSecretLen {
		p.add(path, "shorter than %d characters (from %s); generate one with `openssl rand -hex 32`", minSecretLen, s.Source())
	}
	return true
}

// checkListen checks a host:port listen address; port 0 (any free port)
// is allowed where tests need it.
func checkListen(p *problems, path, addr string, required bool) {
	if addr == "" {
		if required {
			p.add(path, "required (host:port, e.g. :8080)")
		}
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(path, "%q is not host:port (e.g. :8080 or 127.0.0.1:9090)", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add(path, "%q: port must be a number from 0 to 65535", addr)
	}
}
