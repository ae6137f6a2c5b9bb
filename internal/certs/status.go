package certs

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/acme/autocert"
)

// Status describes the certificate serving one host (or the default).
type Status struct {
	Host      string    `json:"host"`   // "" for the default file certificate
	Source    string    `json:"source"` // "acme" or "file"
	File      string    `json:"file,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	// Problem is set when there is no usable certificate yet or a renewal
	// is overdue.
	Problem string `json:"problem,omitempty"`
}

// expiringSoon is when a file certificate's coming expiry is alerted:
// files are renewed by someone else, who may have forgotten.
const expiringSoon = 14 * 24 * time.Hour

// Status lists every file certificate and every ACME host, with the
// certificate in the cache (what handshakes get).
func (m *Manager) Status(ctx context.Context) []Status {
	var out []Status
	m.reloadMu.Lock()
	for _, w := range m.watch {
		hosts := w.file.Hosts
		if len(hosts) == 0 {
			hosts = []string{""}
		}
		for _, h := range hosts {
			out = append(out, describe(Status{Host: h, Source: "file", File: w.file.Cert}, w.cert.Leaf, time.Now()))
		}
	}
	m.reloadMu.Unlock()
	for _, h := range m.acmeHosts() {
		s := Status{Host: h, Source: "acme"}
		leaf, err := m.cachedLeaf(ctx, h)
		if err != nil {
			s.Problem = "no certificate yet: " + err.Error()
		} else {
			s = describe(s, leaf, time.Now())
			if s.Problem == "" && m.overdue(leaf, time.Now()) {
				s.Problem = "renewal overdue"
			}
		}
		out = append(out, s)
	}
	return out
}

func describe(s Status, leaf *x509.Certificate, now time.Time) Status {
	s.Issuer = issuerName(leaf)
	s.NotBefore, s.NotAfter = leaf.NotBefore, leaf.NotAfter
	if now.After(leaf.NotAfter) {
		s.Problem = "expired"
	}
	return s
}

func issuerName(leaf *x509.Certificate) string {
	if cn := leaf.Issuer.CommonName; cn != "" {
		if len(leaf.Issuer.Organization) > 0 {
			return leaf.Issuer.Organization[0] + " " + cn
		}
		return cn
	}
	return leaf.Issuer.String()
}

// cachedLeaf reads host's ECDSA certificate from autocert's cache (the one
// it serves to current clients), without asking the CA for one.
func (m *Manager) cachedLeaf(ctx context.Context, host string) (*x509.Certificate, error) {
	data, err := m.cache.Get(ctx, host)
	if err == autocert.ErrCacheMiss {
		return nil, fmt.Errorf("not obtained")
	}
	if err != nil {
		return nil, err
	}
	for rest := data; len(rest) > 0; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
	return nil, fmt.Errorf("cache entry for %s holds no certificate", host)
}

// renewThreshold mirrors autocert's rule: renew RenewBefore (else a third
// of the lifetime) before expiry, capped at 30 days.
func (m *Manager) renewThreshold(leaf *x509.Certificate) time.Duration {
	t := leaf.NotAfter.Sub(leaf.NotBefore) / 3
	if m.opts.ACME != nil && m.opts.ACME.RenewBefore > 0 {
		t = m.opts.ACME.RenewBefore
	}
	return min(t, 30*24*time.Hour)
}

// overdue reports a certificate that autocert should have renewed a while
// ago: it starts at the threshold (less up to 10% jitter) and retries
// failures every 30-60 minutes, so a certificate with less than 80% of
// the threshold left means every attempt for a tenth of it failed.
func (m *Manager) overdue(leaf *x509.Certificate, now time.Time) bool {
	return leaf.NotAfter.Sub(now) < m.renewThreshold(leaf)*8/10
}

// checkRenewals alerts, once per certificate, about ACME certificates whose
// renewal is overdue and file certificates that expire soon.
func (m *Manager) checkRenewals(now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, h := range m.acmeHosts() {
		leaf, err := m.cachedLeaf(ctx, h)
		if err != nil || !m.overdue(leaf, now) {
			continue
		}
		m.alert(Alert{Host: h, Problem: "renewal overdue", Expires: leaf.NotAfter,
			Detail: fmt.Sprintf("the CA has not renewed it; it expires in %s", leaf.NotAfter.Sub(now).Round(time.Second))},
			"overdue:"+h+":"+leaf.NotAfter.String())
	}
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	for _, w := range m.watch {
		if leaf := w.cert.Leaf; leaf.NotAfter.Sub(now) < expiringSoon {
			m.alert(Alert{Host: strings.Join(w.file.Hosts, ","), Problem: "expires soon", Expires: leaf.NotAfter,
				Detail: fmt.Sprintf("%s expires in %s; replace the file", w.file.Cert, leaf.NotAfter.Sub(now).Round(time.Minute))},
				"soon:"+w.file.Cert+":"+leaf.NotAfter.String())
		}
	}
}

// alert reports a problem once per key.
func (m *Manager) alert(a Alert, key string) {
	m.alertMu.Lock()
	seen := m.alerted[key]
	m.alerted[key] = true
	m.alertMu.Unlock()
	if seen {
		return
	}
	m.opts.Log.Warn("tls: certificate problem", "host", a.Host, "problem", a.Problem, "detail", a.Detail)
	if m.opts.Alert != nil {
		m.opts.Alert(a)
	}
}
