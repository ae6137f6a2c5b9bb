// Package certs provides the certificates of hotswap's HTTPS listener:
// automatic ones from an ACME CA (golang.org/x/crypto/acme/autocert), and
// PEM files that are reloaded when they change.
//
// Only names that services declare get an ACME certificate: the policy asks
// the caller's Hosts function, backed by the proxy's current route table,
// so a client that sends an arbitrary SNI name (or an IP address) cannot
// make hotswap ask the CA for it and exhaust the rate limits. Wildcard hosts
// cannot be validated over HTTP-01 or TLS-ALPN-01 and need a file.
//
// Choice of certificate for a handshake, first match wins: the ACME
// TLS-ALPN-01 challenge certificate when the CA is validating; a file
// certificate listing the name exactly, then one listing its wildcard; an
// ACME certificate for a declared host; the default file certificate. A
// name nothing covers fails the handshake.
//
// The package knows nothing of services or the proxy: it is given a host
// list and returns a tls.Config and an http.Handler for ACME challenges.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ErrNoCertificate: no certificate covers the name a client asked for.
var ErrNoCertificate = errors.New("no certificate for this name")

// Options configures a Manager.
type Options struct {
	// ACME enables automatic certificates; nil serves files only.
	ACME *ACME
	// Files are certificate/key pairs; one with no Hosts is the default.
	Files []File
	// CacheDir holds the ACME account key and certificates (autocert's
	// DirCache, mode 0700), so a restart reuses them. Required with ACME.
	CacheDir string
	// Hosts lists the host names services declare now (exact names; a
	// "*.x" entry is skipped for ACME). Required with ACME.
	Hosts func() []string
	// CheckInterval is how often files are checked for changes and ACME
	// certificates for overdue renewals. Default 10s.
	CheckInterval time.Duration
	// Alert is told about a certificate problem a person must look at: a
	// renewal overdue, a certificate near expiry, a changed file that does
	// not load. Called from the Manager's goroutine; must not block. May be nil.
	Alert func(Alert)
	Log   *slog.Logger
}

// ACME configures automatic certificates.
type ACME struct {
	DirectoryURL string
	Email        string
	// Roots, when set, are the CAs trusted for the ACME server's own HTTPS
	// (tests, private CAs); nil uses the system's.
	Roots *x509.CertPool
	// RenewBefore: renew this long before expiry; 0 is a third of the
	// certificate's lifetime (autocert's default).
	RenewBefore time.Duration
}

// File is a certificate chain and key in PEM files.
type File struct {
	Hosts     []string
	Cert, Key string
}

// Alert is a certificate problem worth telling a person about.
type Alert struct {
	Host    string
	Problem string // e.g. "renewal overdue", "expires soon", "reload failed"
	Detail  string
	Expires time.Time // zero when unknown
}

// Manager chooses the certificate for each TLS handshake. Build it with
// New, run its checks with Start, stop them with Close.
type Manager struct {
	opts  Options
	acme  *autocert.Manager // nil without ACME
	cache *countingCache    // nil without ACME

	// files is the current set of file certificates, replaced whole by the
	// check goroutine (its only writer) and read by every handshake.
	files atomic.Pointer[fileSet]
	// watch is owned by the check goroutine (and New, before it starts);
	// reloadMu serialises Reload calls from outside with it.
	reloadMu sync.Mutex
	watch    []*watchedPair

	// alerted remembers which (host, problem, expiry) was already
	// reported, so a problem is told once, not every check; guarded by
	// alertMu.
	alertMu sync.Mutex
	alerted map[string]bool

	// retries holds, per ACME host without a certificate, when to ask the
	// CA again; owned by the check goroutine.
	retries map[string]retry

	stop chan struct{}
	wg   sync.WaitGroup
}

// New loads every certificate file (an unreadable or mismatched pair is an
// error: the daemon must not start without a certificate it was told to
// serve) and prepares the ACME manager. It starts nothing.
func New(opts Options) (*Manager, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = 10 * time.Second
	}
	m := &Manager{opts: opts, alerted: map[string]bool{}, retries: map[string]retry{}, stop: make(chan struct{})}
	for i, f := range opts.Files {
		w := &watchedPair{file: f}
		if _, err := w.load(); err != nil {
			return nil, fmt.Errorf("tls certificate %d (%s): %w", i, f.Cert, err)
		}
		m.watch = append(m.watch, w)
	}
	m.files.Store(buildFileSet(m.watch))
	if opts.ACME != nil {
		if opts.CacheDir == "" || opts.Hosts == nil {
			return nil, errors.New("certs: ACME needs a cache directory and a host list")
		}
		m.cache = &countingCache{Cache: autocert.DirCache(opts.CacheDir)}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if opts.ACME.Roots != nil {
			tr.TLSClientConfig = &tls.Config{RootCAs: opts.ACME.Roots}
		}
		client := &acme.Client{DirectoryURL: opts.ACME.DirectoryURL, UserAgent: "hotswap",
			HTTPClient: &http.Client{Transport: &closingTransport{base: tr, closed: m.stop}, Timeout: time.Minute}}
		m.acme = &autocert.Manager{
			Prompt:      autocert.AcceptTOS,
			Cache:       m.cache,
			HostPolicy:  m.policy,
			RenewBefore: opts.ACME.RenewBefore,
			Client:      client,
			Email:       opts.ACME.Email,
		}
	}
	return m, nil
}

// TLSConfig is the listener's configuration: certificates from
// GetCertificate, HTTP/2 then HTTP/1.1 by ALPN, and the ACME TLS-ALPN-01
// protocol when ACME is on.
func (m *Manager) TLSConfig(minVersion uint16) *tls.Config {
	protos := []string{"h2", "http/1.1"}
	if m.acme != nil {
		protos = append(protos, acme.ALPNProto)
	}
	return &tls.Config{MinVersion: minVersion, GetCertificate: m.GetCertificate, NextProtos: protos}
}

// GetCertificate picks the certificate for a handshake (see the package
// doc for the order).
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.acme != nil && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto {
		return m.acme.GetCertificate(hello) // a CA validating TLS-ALPN-01
	}
	name := normalise(hello.ServerName)
	fs := m.files.Load()
	if c := fs.match(name); c != nil {
		return c, nil
	}
	if m.acme != nil && m.declared(name) {
		return m.acme.GetCertificate(hello)
	}
	if fs.fallback != nil {
		return fs.fallback, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNoCertificate, name)
}

// ChallengeHandler answers ACME HTTP-01 challenges
// (/.well-known/acme-challenge/) for the hosts ACME serves, on the
// plain-HTTP listener, and passes every other request to next, including
// challenges for other hosts: an app behind a certificate file may answer
// its own CA's challenges. Without ACME it is next.
func (m *Manager) ChallengeHandler(next http.Handler) http.Handler {
	if m.acme == nil {
		return next
	}
	acmeHandler := m.acme.HTTPHandler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsChallenge(r.URL.Path) && m.policy(r.Context(), r.Host) == nil {
			acmeHandler.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// IsChallenge reports the URL path of an ACME HTTP-01 challenge, which
// must be answered over plain HTTP (never redirected).
func IsChallenge(path string) bool { return strings.HasPrefix(path, "/.well-known/acme-challenge/") }

// Obtained counts certificates the CA issued to this Manager (first
// issuance and renewals), for status and tests.
func (m *Manager) Obtained() int64 {
	if m.cache == nil {
		return 0
	}
	return m.cache.obtained.Load()
}

// policy is autocert's HostPolicy: a name a service declares, not covered
// by a file certificate. The CA's HTTP-01 request carries the port in its
// Host header ("example.com:80", or the test port), which autocert passes
// on as it is; the port is not part of the name.
func (m *Manager) policy(_ context.Context, host string) error {
	name := normalise(host)
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	if m.files.Load().match(name) != nil {
		return fmt.Errorf("hotswap: %q is served from a certificate file, not ACME", name)
	}
	if !m.declared(name) {
		return fmt.Errorf("hotswap: no service declares host %q", name)
	}
	return nil
}

// declared reports whether a service lists name exactly; wildcards and IP
// addresses never qualify for ACME.
func (m *Manager) declared(name string) bool {
	if name == "" || strings.HasPrefix(name, "*") || net.ParseIP(name) != nil {
		return false
	}
	return slices.Contains(m.opts.Hosts(), name)
}

// acmeHosts lists the declared hosts ACME serves (not wildcards, IP
// addresses or names covered by files), sorted, for issuance and status.
func (m *Manager) acmeHosts() []string {
	if m.acme == nil {
		return nil
	}
	var out []string
	fs := m.files.Load()
	for _, h := range m.opts.Hosts() {
		if !strings.HasPrefix(h, "*") && net.ParseIP(h) == nil && fs.match(h) == nil && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out
}

func normalise(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

// closingTransport ends every request to the CA when the Manager closes:
// autocert's calls take no context of ours (an issuance may run for
// minutes), and a shutdown must not wait for them.
type closingTransport struct {
	base   http.RoundTripper
	closed <-chan struct{}
}

func (t *closingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(r.Context())
	go func() {
		select {
		case <-t.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	resp, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// countingCache is autocert's cache, counting certificates written to it:
// autocert writes one exactly when the CA issued it.
type countingCache struct {
	autocert.Cache
	obtained atomic.Int64
}

func (c *countingCache) Put(ctx context.Context, key string, data []byte) error {
	err := c.Cache.Put(ctx, key, data)
	if err == nil && isCertKey(key) {
		c.obtained.Add(1)
	}
	return err
}

// isCertKey tells certificate entries from the account key and challenge
// tokens autocert also keeps in its cache.
func isCertKey(key string) bool {
	return !strings.HasPrefix(key, "acme_account") && !strings.HasSuffix(key, "+token") &&
		!strings.HasSuffix(key, "+http-01")
}
