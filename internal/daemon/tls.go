package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/certs"
	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/deploy"
	"github.com/hotswap/hotswap/internal/notify"
)

// tlsState is the HTTPS side of the proxy: the certificate manager, the
// TLS listener and the optional HTTP/3 server. Set up by New and Start,
// guarded by Daemon.mu for the listener address.
type tlsState struct {
	certs *certs.Manager
	ln    net.Listener
	h3    *http3.Server
	h3wg  sync.WaitGroup
}

// buildTLS prepares the certificate manager when proxy.tls is set. The
// certificate files must load: a daemon told to serve a certificate does
// not start without it.
func (d *Daemon) buildTLS(alert func(certs.Alert)) error {
	tc := d.cfg.Proxy.TLS
	if tc == nil {
		return nil
	}
	opts := certs.Options{
		CacheDir:      filepath.Join(d.cfg.StateDir, "certs"),
		Hosts:         d.proxy.Hosts,
		CheckInterval: tc.ReloadInterval,
		Alert:         alert,
		Log:           d.log,
	}
	for _, f := range tc.Certificates {
		opts.Files = append(opts.Files, certs.File{Hosts: f.Hosts, Cert: f.Cert, Key: f.Key})
	}
	if a := tc.ACME; a != nil {
		opts.ACME = &certs.ACME{DirectoryURL: a.DirectoryURL, Email: a.Email, RenewBefore: a.RenewBefore}
		if a.CARoots != "" {
			pem, err := os.ReadFile(a.CARoots)
			if err != nil {
				return fmt.Errorf("proxy.tls.acme.ca_roots: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("proxy.tls.acme.ca_roots %s: no PEM certificate in it", a.CARoots)
			}
			opts.ACME.Roots = pool
		}
	}
	m, err := certs.New(opts)
	if err != nil {
		return err
	}
	d.tls = &tlsState{certs: m}
	return nil
}

// plainHandler is what the HTTP listener serves: ACME HTTP-01 challenges,
// then the redirect to HTTPS for services that ask for it, then the proxy.
func (d *Daemon) plainHandler() http.Handler {
	if d.tls == nil {
		return d.proxy
	}
	var h http.Handler = d.proxy
	redirect := map[string]bool{}
	for _, s := range d.cfg.Services {
		if s.RedirectHTTP {
			redirect[s.Name] = true
		}
	}
	if len(redirect) > 0 {
		h = &redirectHTTPS{next: d.proxy, route: d.proxy.Route, services: redirect,
			healthPath: d.cfg.Proxy.HealthPath, port: func() string { return portOf(d.TLSAddr()) }}
	}
	return d.tls.certs.ChallengeHandler(h)
}

// httpsAddr is proxy.tls.listen, "" without HTTPS.
func (d *Daemon) httpsAddr() string {
	if d.tls == nil {
		return ""
	}
	return d.cfg.Proxy.TLS.Listen
}

// startTLS serves HTTP/2 and HTTP/1.1 on the HTTPS listener (and HTTP/3 on
// the same UDP port when asked), then starts the certificate checks.
func (d *Daemon) startTLS(ln net.Listener) {
	if d.tls == nil {
		return
	}
	tc := d.cfg.Proxy.TLS
	minVersion := uint16(tls.VersionTLS12)
	if tc.MinVersion == "1.3" {
		minVersion = tls.VersionTLS13
	}
	tlsConf := d.tls.certs.TLSConfig(minVersion)
	headers := &tlsHeaders{next: d.proxy, hsts: hstsValue(tc)}

	if tc.HTTP3 {
		udp, err := net.ListenPacket("udp", ln.Addr().String())
		if err != nil {
			// HTTPS over TCP serves on; browsers use HTTP/3 only when offered.
			d.log.Error("http/3 not served", "addr", ln.Addr().String(), "err", err)
		} else {
			d.serveHTTP3(udp, tlsConf, headers)
		}
	}

	srv := &http.Server{Handler: headers, TLSConfig: tlsConf,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug)}
	d.proxy.ConfigureServer(srv) // the same client timeouts as plain HTTP
	d.mu.Lock()
	d.servers = append(d.servers, srv)
	d.tls.ln = ln
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("serve https", "addr", ln.Addr().String(), "err", err)
		}
	}()
	d.tls.certs.Start()
	d.log.Info("hotswap serving https", "addr", ln.Addr().String(), "http3", tc.HTTP3)
}

// serveHTTP3 serves the HTTPS handler over QUIC on udp and advertises it
// on the TCP responses with Alt-Svc.
func (d *Daemon) serveHTTP3(udp net.PacketConn, tlsConf *tls.Config, headers *tlsHeaders) {
	h3conf := tlsConf.Clone()
	h3conf.NextProtos = nil // http3 sets its own
	d.tls.h3 = &http3.Server{Handler: headers, TLSConfig: http3.ConfigureTLSConfig(h3conf),
		IdleTimeout: d.cfg.Proxy.IdleTimeout}
	headers.altSvc = fmt.Sprintf(`h3=":%s"; ma=86400`, portOf(udp.LocalAddr().String()))
	d.tls.h3wg.Add(1)
	go func() {
		defer d.tls.h3wg.Done()
		if err := d.tls.h3.Serve(udp); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("serve http/3", "addr", udp.LocalAddr().String(), "err", err)
		}
		udp.Close()
	}()
}

// closeTLS stops the HTTP/3 server (letting requests finish until ctx
// ends) and the certificate checks. The TCP listener's server is shut down
// with the others.
func (d *Daemon) closeTLS(ctx context.Context) {
	if d.tls == nil {
		return
	}
	if d.tls.h3 != nil {
		if err := d.tls.h3.Shutdown(ctx); err != nil {
			d.tls.h3.Close()
		}
		d.tls.h3wg.Wait()
	}
	d.tls.certs.Close()
}

// TLSAddr is the HTTPS listener's bound address ("" without proxy.tls or
// before Start).
func (d *Daemon) TLSAddr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tls == nil || d.tls.ln == nil {
		return ""
	}
	return d.tls.ln.Addr().String()
}

// Certificates reports the certificate of every HTTPS host (nil without
// proxy.tls).
func (d *Daemon) Certificates(ctx context.Context) []certs.Status {
	if d.tls == nil {
		return nil
	}
	return d.tls.certs.Status(ctx)
}

// CertificatesObtained counts certificates the ACME CA issued since start.
func (d *Daemon) CertificatesObtained() int64 {
	if d.tls == nil {
		return 0
	}
	return d.tls.certs.Obtained()
}

func hstsValue(tc *config.TLS) string {
	if tc.HSTS <= 0 {
		return ""
	}
	v := "max-age=" + strconv.FormatInt(int64(tc.HSTS.Seconds()), 10)
	if tc.HSTSIncludeSubdomains {
		v += "; includeSubDomains"
	}
	return v
}

func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return port
}

// certificateAlerts sends certificate problems to the notification sinks
// (nil without any).
func certificateAlerts(n deploy.Notifier) func(certs.Alert) {
	a, ok := n.(notifierAdapter)
	if !ok {
		return nil
	}
	return func(al certs.Alert) {
		details := map[string]string{"host": al.Host}
		if !al.Expires.IsZero() {
			details["expires"] = al.Expires.UTC().Format(time.RFC3339)
		}
		a.n.Notify(notify.Event{Kind: notify.KindCertificate, Reason: al.Problem + ": " + al.Detail,
			Actor: "hotswap", At: time.Now(), Details: details})
	}
}

// apiCertificates is Certificates in the API's wire form.
func (d *Daemon) apiCertificates(ctx context.Context) []api.Certificate {
	var out []api.Certificate
	for _, s := range d.Certificates(ctx) {
		out = append(out, api.Certificate{Host: s.Host, Source: s.Source, File: s.File, Issuer: s.Issuer,
			NotBefore: s.NotBefore, NotAfter: s.NotAfter, Problem: s.Problem})
	}
	return out
}
