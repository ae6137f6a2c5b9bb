package certs

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/certs/certstest"
)

// acmeRig is a Manager serving the way the daemon does: a TLS listener
// and a plain-HTTP listener with the challenge handler, on loopback ports
// that pebble validates against.
type acmeRig struct {
	httpLn, tlsLn net.Listener
	pebble        *certstest.Pebble
	roots         *x509.CertPool // trusts what pebble issues
	cacheDir      string
	hosts         []string
	mu            sync.Mutex
	alerts        []Alert
}

func newACMERig(t *testing.T, validity time.Duration, tlsALPN bool) *acmeRig {
	t.Helper()
	r := &acmeRig{cacheDir: t.TempDir(), hosts: []string{"a.hotswap.test", "b.hotswap.test"}}
	r.httpLn, r.tlsLn = listen(t), listen(t)
	tlsPort := portNum(t, r.tlsLn)
	if !tlsALPN {
		closed := listen(t) // a port nothing answers on: TLS-ALPN-01 fails, HTTP-01 remains
		tlsPort = portNum(t, closed)
		closed.Close()
	}
	r.pebble = certstest.StartPebble(t, certstest.PebbleOptions{HTTPPort: portNum(t, r.httpLn), TLSPort: tlsPort, Validity: validity})
	r.roots = r.pebble.Roots(t)
	return r
}

// manager builds a Manager on the rig's cache.
func (r *acmeRig) manager(t *testing.T, interval time.Duration) *Manager {
	t.Helper()
	pem, err := os.ReadFile(r.pebble.ServerRoots)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	m, err := New(Options{
		ACME:          &ACME{DirectoryURL: r.pebble.DirectoryURL, Roots: pool},
		CacheDir:      r.cacheDir,
		Hosts:         func() []string { return r.hosts },
		CheckInterval: interval,
		Alert: func(a Alert) {
			r.mu.Lock()
			r.alerts = append(r.alerts, a)
			r.mu.Unlock()
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// serve runs m on the rig's listeners until the test ends.
func (r *acmeRig) serve(t *testing.T, m *Manager) {
	serveOn(t, m, r.httpLn, r.tlsLn)
}

func serveOn(t *testing.T, m *Manager, httpLn, tlsLn net.Listener) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "app\n") })
	hs := &http.Server{Handler: m.ChallengeHandler(ok)}
	ts := &http.Server{Handler: ok, TLSConfig: m.TLSConfig(tls.VersionTLS12)}
	go hs.Serve(httpLn)
	go ts.ServeTLS(tlsLn, "", "")
	t.Cleanup(func() { hs.Close(); ts.Close() })
}

// handshake connects with SNI host and returns the verified leaf.
func (r *acmeRig) handshake(host string) (*x509.Certificate, error) {
	return handshakeAt(r.tlsLn.Addr().String(), host, r.roots)
}

func handshakeAt(addr, host string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 30 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: host, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func portNum(t *testing.T, ln net.Listener) int {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestACMEIssuesForDeclaredHostsOnly: two declared hosts get certificates
// from the CA over TLS-ALPN-01; a name no service declares gets no
// certificate and costs no order at the CA.
func TestACMEIssuesForDeclaredHostsOnly(t *testing.T) {
	r := newACMERig(t, 0, true)
	m := r.manager(t, time.Hour)
	r.serve(t, m)
	for _, h := range r.hosts {
		leaf, err := r.handshake(h)
		if err != nil {
			t.Fatalf("handshake %s: %v", h, err)
		}
		if leaf.VerifyHostname(h) != nil {
			t.Errorf("%s got a certificate for %v", h, leaf.DNSNames)
		}
	}
	if got := m.Obtained(); got != 2 {
		t.Errorf("obtained %d certificates, want 2", got)
	}
	for _, evil := range []string{"evil.hotswap.test", "127.0.0.1"} {
		if _, err := r.handshake(evil); err == nil {
			t.Errorf("handshake for undeclared %s succeeded", evil)
		}
	}
	if got := m.Obtained(); got != 2 {
		t.Errorf("undeclared names made the CA issue: %d certificates, want 2", got)
	}
	// A challenge for an undeclared host is not ACME's: it goes to the app.
	resp, err := http.Get("http://" + r.httpLn.Addr().String() + "/.well-known/acme-challenge/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "app\n" {
		t.Errorf("challenge for an undeclared host: %d %q, want the app's answer", resp.StatusCode, body)
	}
	st := m.Status(t.Context())
	if len(st) != 2 || st[0].Source != "acme" || st[0].Issuer == "" || st[0].NotAfter.IsZero() || st[0].Problem != "" {
		t.Errorf("status = %+v", st)
	}
}

// TestACMEHTTP01OnAnotherPort: with TLS-ALPN-01 unreachable the CA
// validates over HTTP-01, whose request names the host with the
// listener's port ("a.hotswap.test:34567"); the policy must judge the name
// without the port, or no certificate is ever issued off port 80.
func TestACMEHTTP01OnAnotherPort(t *testing.T) {
	r := newACMERig(t, 0, false)
	m := r.manager(t, time.Hour)
	r.serve(t, m)
	leaf, err := r.handshake("a.hotswap.test")
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if leaf.VerifyHostname("a.hotswap.test") != nil {
		t.Errorf("certificate for %v", leaf.DNSNames)
	}
}

// TestACMERenewal: a short-lived certificate is replaced before it
// expires, without a restart, and handshakes get the new one.
func TestACMERenewal(t *testing.T) {
	r := newACMERig(t, 12*time.Second, true) // renewed a third before expiry: after about 8s
	m := r.manager(t, time.Hour)
	r.serve(t, m)
	first, err := r.handshake("a.hotswap.test")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		leaf, err := r.handshake("a.hotswap.test")
		if err != nil {
			t.Fatalf("handshake during renewal: %v", err)
		}
		if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			if !leaf.NotAfter.After(first.NotAfter) {
				t.Errorf("renewed certificate expires %v, not after the first's %v", leaf.NotAfter, first.NotAfter)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("certificate (expires %v) not renewed by %v", first.NotAfter, deadline)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := m.Obtained(); got < 2 {
		t.Errorf("obtained %d, want at least 2 (issue + renewal)", got)
	}
}

// TestACMERenewalFailureAlerts: when the CA is gone the renewal cannot
// happen; once it is overdue a person is told, once. (b.hotswap.test,
// never obtained, is reported as such.)
func TestACMERenewalFailureAlerts(t *testing.T) {
	r := newACMERig(t, 12*time.Second, true)
	m := r.manager(t, 100*time.Millisecond)
	r.serve(t, m)
	if _, err := r.handshake("a.hotswap.test"); err != nil {
		t.Fatal(err)
	}
	r.pebble.Stop()
	m.Start()
	byProblem := func() map[string][]Alert {
		r.mu.Lock()
		defer r.mu.Unlock()
		out := map[string][]Alert{}
		for _, a := range r.alerts {
			out[a.Problem] = append(out[a.Problem], a)
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(byProblem()["renewal overdue"]) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no alert for an overdue renewal: %+v", byProblem())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // three more checks: still one alert each
	got := byProblem()
	if a := got["renewal overdue"]; len(a) != 1 || a[0].Host != "a.hotswap.test" || a[0].Expires.IsZero() {
		t.Errorf("overdue alerts = %+v, want one for a.hotswap.test", a)
	}
	if a := got["not obtained"]; len(a) != 1 || a[0].Host != "b.hotswap.test" {
		t.Errorf("not-obtained alerts = %+v, want one for b.hotswap.test", a)
	}
	st := m.Status(t.Context())
	if len(st) != 2 || st[0].Host != "a.hotswap.test" || st[0].Problem == "" {
		t.Errorf("status does not show the problem: %+v", st)
	}
}

// TestACMERestartReusesCache: a new manager on the same state directory
// serves the certificates already obtained, without asking the CA (which
// is stopped to prove it).
func TestACMERestartReusesCache(t *testing.T) {
	r := newACMERig(t, 0, true)
	m1 := r.manager(t, time.Hour)
	r.serve(t, m1)
	first, err := r.handshake("b.hotswap.test")
	if err != nil {
		t.Fatal(err)
	}
	m1.Close()
	r.pebble.Stop()

	m2 := r.manager(t, time.Hour)
	m2.Start() // loads every host's certificate from the cache
	tlsLn := listen(t)
	serveOn(t, m2, listen(t), tlsLn)
	leaf, err := handshakeAt(tlsLn.Addr().String(), "b.hotswap.test", r.roots)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("restart served serial %v, want the cached %v", leaf.SerialNumber, first.SerialNumber)
	}
	if got := m2.Obtained(); got != 0 {
		t.Errorf("restart obtained %d new certificates, want 0", got)
	}
}
