package config

import (
	"os"
	"slices"
	"strings"
	"time"
)

// TLS configures HTTPS on the stable port: a second listener that serves
// the same services as proxy.listen, with certificates obtained
// automatically (ACME) or read from files.
type TLS struct {
	// Listen (proxy.tls.listen) is the HTTPS address, host:port. Browsers
	// and ACME's TLS-ALPN-01 challenge expect :443. Default ":443".
	Listen string `yaml:"listen"`

	// ACME (proxy.tls.acme) obtains and renews certificates automatically
	// for every host a service declares in hosts (never for other names a
	// client sends; wildcard hosts need a file certificate). Hosts covered
	// by proxy.tls.certificates use those instead. Omit for files only.
	ACME *ACME `yaml:"acme"`

	// Certificates (proxy.tls.certificates) are certificate files, each for
	// the hosts it lists, or the default for any other name when hosts is
	// empty. Files are checked every reload_interval and a changed pair is
	// loaded without a restart; a pair that does not load keeps the
	// previous one serving (and is logged).
	Certificates []CertFile `yaml:"certificates"`

	// ReloadInterval (proxy.tls.reload_interval) is how often certificate
	// files are checked for changes, and ACME certificates for overdue
	// renewals. Default 10s.
	ReloadInterval time.Duration `yaml:"reload_interval"`

	// MinVersion (proxy.tls.min_version) is the lowest TLS version accepted:
	// "1.2" or "1.3". Default "1.2".
	MinVersion string `yaml:"min_version"`

	// HSTS (proxy.tls.hsts) sends Strict-Transport-Security with this
	// max-age on every HTTPS response, so browsers use HTTPS for the host
	// from then on. Duration, rounded to seconds; 0 sends none. Default 0:
	// turn it on once HTTPS works for every host, since browsers remember it.
	HSTS time.Duration `yaml:"hsts"`

	// HSTSIncludeSubdomains (proxy.tls.hsts_include_subdomains) adds
	// includeSubDomains to the HSTS header. Default false.
	HSTSIncludeSubdomains bool `yaml:"hsts_include_subdomains"`

	// HTTP3 (proxy.tls.http3) also serves HTTP/3 (QUIC) on the UDP port of
	// the same address and advertises it with Alt-Svc on HTTPS responses.
	// WebSocket upgrades stay on HTTP/1.1. Default false.
	HTTP3 bool `yaml:"http3"`
}

// ACME configures automatic certificates.
type ACME struct {
	// DirectoryURL (proxy.tls.acme.directory_url) is the CA's ACME directory.
	// Use Let's Encrypt's staging directory
	// (https://acme-staging-v02.api.letsencrypt.org/directory) while trying
	// things out. Default Let's Encrypt production.
	DirectoryURL string `yaml:"directory_url"`

	// Email (proxy.tls.acme.email) is the account contact the CA writes to
	// about expiring or revoked certificates. Optional, recommended.
	Email string `yaml:"email"`

	// CARoots (proxy.tls.acme.ca_roots) is a PEM file of CA certificates
	// trusted for the ACME server's own HTTPS, in place of the system's: for
	// private CAs and test servers. Default "" (system roots).
	CARoots string `yaml:"ca_roots"`

	// RenewBefore (proxy.tls.acme.renew_before) renews a certificate this
	// long before it expires (capped at 30 days). Default 0: a third of its
	// lifetime (30 days for Let's Encrypt's 90-day certificates).
	RenewBefore time.Duration `yaml:"renew_before"`
}

// CertFile is one certificate and key in PEM files.
type CertFile struct {
	// Hosts (hosts) are the names this certificate serves, as in
	// services[].hosts ("*.example.com" matches one label). Empty: the
	// default certificate, for names nothing else covers.
	Hosts []string `yaml:"hosts"`

	// Cert (cert) is the PEM certificate chain file, leaf first. Required.
	Cert string `yaml:"cert"`

	// Key (key) is the PEM private key file. Required.
	Key string `yaml:"key"`
}

// DefaultACMEDirectory is Let's Encrypt's production directory.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

func (t *TLS) setDefaults() {
	t.Listen = ":443"
	t.ReloadInterval = 10 * time.Second
	t.MinVersion = "1.2"
}

func (a *ACME) setDefaults() { a.DirectoryURL = DefaultACMEDirectory }

func (t *TLS) resolvePaths(abs func(string) string) {
	if t.ACME != nil {
		t.ACME.CARoots = abs(t.ACME.CARoots)
	}
	for i := range t.Certificates {
		t.Certificates[i].Cert = abs(t.Certificates[i].Cert)
		t.Certificates[i].Key = abs(t.Certificates[i].Key)
	}
}

func (c *Config) validateTLS(p *problems) {
	t := c.Proxy.TLS
	if t == nil {
		for i, s := range c.Services {
			if s.RedirectHTTP {
				p.add(indexPath("services", i)+".redirect_http", "needs proxy.tls: there is no HTTPS listener to redirect to")
			}
		}
		return
	}
	checkListen(p, "proxy.tls.listen", t.Listen, true)
	if t.Listen == c.Proxy.Listen && t.Listen != "" && !strings.HasSuffix(t.Listen, ":0") {
		p.add("proxy.tls.listen", "%q is also proxy.listen: HTTP and HTTPS need their own ports", t.Listen)
	}
	positive(p, "proxy.tls.reload_interval", t.ReloadInterval)
	if t.MinVersion != "1.2" && t.MinVersion != "1.3" {
		p.add("proxy.tls.min_version", "%q is not one of 1.2, 1.3", t.MinVersion)
	}
	if t.HSTS < 0 {
		p.add("proxy.tls.hsts", "must not be negative")
	}
	if t.ACME == nil && len(t.Certificates) == 0 {
		p.add("proxy.tls", "needs acme, certificates or both: there is nothing to serve HTTPS with")
	}
	if a := t.ACME; a != nil {
		if !strings.HasPrefix(a.DirectoryURL, "https://") {
			p.add("proxy.tls.acme.directory_url", "%q must be an https:// URL", a.DirectoryURL)
		}
		if a.Email != "" && (!strings.Contains(a.Email, "@") || strings.ContainsAny(a.Email, " \t<>")) {
			p.add("proxy.tls.acme.email", "%q is not an e-mail address", a.Email)
		}
		if a.CARoots != "" {
			checkReadable(p, "proxy.tls.acme.ca_roots", a.CARoots)
		}
		if a.RenewBefore < 0 {
			p.add("proxy.tls.acme.renew_before", "must not be negative")
		}
	}
	defaults := 0
	seen := map[string]int{}
	for i, f := range t.Certificates {
		path := indexPath("proxy.tls.certificates", i)
		if len(f.Hosts) == 0 {
			if defaults++; defaults > 1 {
				p.add(path+".hosts", "a second default certificate (no hosts): only one may have none")
			}
		}
		for k, h := range f.Hosts {
			hp := indexPath(path+".hosts", k)
			switch j, dup := seen[h]; {
			case h != strings.ToLower(h) || len(h) > 253 || !hostRE.MatchString(h):
				p.add(hp, "%q is not a lowercase host name", h)
			case dup:
				p.add(hp, "%q already has a certificate in proxy.tls.certificates[%d]", h, j)
			case slices.Index(f.Hosts, h) < k:
				p.add(hp, "%q is listed twice", h)
			default:
				seen[h] = i
			}
		}
		for _, kf := range []struct{ key, file string }{{"cert", f.Cert}, {"key", f.Key}} {
			if kf.file == "" {
				p.add(path+"."+kf.key, "required (a PEM file)")
			} else {
				checkReadable(p, path+"."+kf.key, kf.file)
			}
		}
	}
}

// checkReadable reports a file the daemon cannot open now; it would fail
// at start otherwise, with less context.
func checkReadable(p *problems, path, file string) {
	f, err := os.Open(file)
	if err != nil {
		p.add(path, "cannot read: %v", err)
		return
	}
	f.Close()
}
