package certs

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"
)

// retry is when a host without a certificate is tried again.
type retry struct {
	next time.Time
	wait time.Duration
}

// maxRetryWait caps the backoff between attempts at a first certificate:
// CAs limit failed validations (Let's Encrypt: 5 per host per hour).
const maxRetryWait = time.Hour

// Start runs the checks every CheckInterval until Close. It first asks for
// a certificate for every ACME host, so the first visitor does not wait
// for the CA; a host that gets none is tried again with backoff (six check
// intervals, doubling up to an hour) and reported once. A handshake for
// the host also tries, as autocert does.
func (m *Manager) Start() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.obtainDue(time.Now())
		t := time.NewTicker(m.opts.CheckInterval)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.Reload()
				now := time.Now()
				m.obtainDue(now)
				m.checkRenewals(now)
			}
		}
	}()
}

// Close stops the checks and waits for them; requests to the CA in
// progress are ended (closingTransport).
func (m *Manager) Close() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.wg.Wait()
}

// obtainDue asks the CA for the certificate of every ACME host that has
// none in the cache and whose retry time has come, one at a time, stopping
// early on Close.
func (m *Manager) obtainDue(now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, h := range m.acmeHosts() {
		select {
		case <-m.stop:
			return
		default:
		}
		if _, err := m.cachedLeaf(ctx, h); err == nil {
			delete(m.retries, h) // obtained, possibly by a handshake
			continue
		}
		r, waiting := m.retries[h]
		if waiting && now.Before(r.next) {
			continue
		}
		_, err := m.acme.GetCertificate(syntheticHello(h)) // loads from the cache, or orders one
		if err == nil {
			delete(m.retries, h)
			continue
		}
		r.wait = min(max(2*r.wait, 6*m.opts.CheckInterval), maxRetryWait)
		r.next = time.Now().Add(r.wait)
		m.retries[h] = r
		m.opts.Log.Warn("tls: no certificate yet", "host", h, "retry_in", r.wait, "err", err)
		m.alert(Alert{Host: h, Problem: "not obtained",
			Detail: fmt.Sprintf("the CA gave no certificate (%v); retrying with backoff", err)}, "obtain:"+h)
	}
}

// syntheticHello asks autocert for the ECDSA certificate every current
// client accepts.
func syntheticHello(host string) *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{
		ServerName:        host,
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:   []tls.CurveID{tls.CurveP256},
		CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
	}
}
