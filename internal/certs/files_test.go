package certs

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/certs/certstest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestFileCertificateChoice: exact names, then wildcards, then the
// default; ACME is never asked for a name a file covers.
func TestFileCertificateChoice(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "files CA")
	aCert, aKey, aLeaf := ca.Issue(t, dir, "a", time.Hour, "a.example.test")
	wCert, wKey, wLeaf := ca.Issue(t, dir, "w", time.Hour, "*.wild.example.test")
	dCert, dKey, dLeaf := ca.Issue(t, dir, "d", time.Hour, "default.example.test")
	m, err := New(Options{Files: []File{
		{Hosts: []string{"a.example.test"}, Cert: aCert, Key: aKey},
		{Hosts: []string{"*.wild.example.test"}, Cert: wCert, Key: wKey},
		{Cert: dCert, Key: dKey},
	}, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint64{
		"a.example.test": aLeaf.SerialNumber.Uint64(), "A.Example.Test.": aLeaf.SerialNumber.Uint64(),
		"x.wild.example.test": wLeaf.SerialNumber.Uint64(), "wild.example.test": dLeaf.SerialNumber.Uint64(),
		"other.test": dLeaf.SerialNumber.Uint64(), "": dLeaf.SerialNumber.Uint64(),
	} {
		c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if got := c.Leaf.SerialNumber.Uint64(); got != want {
			t.Errorf("%q: serial %d, want %d", name, got, want)
		}
	}

	// Without a default, an uncovered name fails the handshake.
	m2, err := New(Options{Files: []File{{Hosts: []string{"a.example.test"}, Cert: aCert, Key: aKey}}, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.GetCertificate(&tls.ClientHelloInfo{ServerName: "other.test"}); err == nil {
		t.Error("a name no certificate covers got one")
	}
}

// TestFileCertificateRefused: a pair that does not load, or does not name
// the hosts it is configured for, stops New with an error.
func TestFileCertificateRefused(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "files CA")
	cert, key, _ := ca.Issue(t, dir, "a", time.Hour, "a.example.test")
	_, otherKey, _ := ca.Issue(t, dir, "b", time.Hour, "b.example.test")
	for name, f := range map[string]File{
		"wrong host":    {Hosts: []string{"b.example.test"}, Cert: cert, Key: key},
		"key mismatch":  {Hosts: []string{"a.example.test"}, Cert: cert, Key: otherKey},
		"missing file":  {Cert: dir + "/nope.pem", Key: key},
		"not a PEM key": {Cert: cert, Key: cert},
	} {
		if _, err := New(Options{Files: []File{f}, Log: quiet()}); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// TestFileReload: a replaced pair is served after the next check; a
// replacement that does not load keeps the previous certificate serving
// and is alerted once.
func TestFileReload(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "files CA")
	cert, key, first := ca.Issue(t, dir, "site", 30*24*time.Hour, "site.example.test")
	var mu sync.Mutex
	var alerts []Alert
	m, err := New(Options{Files: []File{{Hosts: []string{"site.example.test"}, Cert: cert, Key: key}},
		CheckInterval: 20 * time.Millisecond, Log: quiet(),
		Alert: func(a Alert) { mu.Lock(); alerts = append(alerts, a); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	t.Cleanup(m.Close)
	serial := func() uint64 {
		c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "site.example.test"})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.Uint64()
	}
	if serial() != first.SerialNumber.Uint64() {
		t.Fatal("not serving the configured certificate")
	}
	_, _, second := ca.Issue(t, dir, "site", 31*24*time.Hour, "site.example.test")
	waitFor(t, "the replaced certificate to be served", func() bool { return serial() == second.SerialNumber.Uint64() })

	// A broken certificate file: the previous one keeps serving.
	certstest.WriteAtomic(t, cert, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"))
	waitFor(t, "an alert for the broken file", func() bool { mu.Lock(); defer mu.Unlock(); return len(alerts) > 0 })
	if serial() != second.SerialNumber.Uint64() {
		t.Error("a broken file replaced the working certificate")
	}
	if err := m.Reload(); err == nil {
		t.Error("Reload of a broken file returned no error")
	}
	mu.Lock()
	if len(alerts) != 1 || alerts[0].Problem != "reload failed" {
		t.Errorf("alerts = %+v, want one reload failure", alerts)
	}
	mu.Unlock()

	// Fixed again: served.
	_, _, third := ca.Issue(t, dir, "site", 32*24*time.Hour, "site.example.test")
	waitFor(t, "the fixed certificate to be served", func() bool { return serial() == third.SerialNumber.Uint64() })
	st := m.Status(t.Context())
	if len(st) != 1 || st[0].Source != "file" || !st[0].NotAfter.Equal(third.NotAfter) || st[0].Issuer == "" {
		t.Errorf("status = %+v", st)
	}
}

// TestPolicy: ACME may be asked only for names a service declares, with or
// without the port the CA's HTTP-01 request carries, and never for a name a
// file covers, a wildcard or an IP address.
func TestPolicy(t *testing.T) {
	dir := t.TempDir()
	ca := certstest.NewCA(t, "files CA")
	cert, key, _ := ca.Issue(t, dir, "f", time.Hour, "file.example.test")
	m, err := New(Options{ACME: &ACME{DirectoryURL: "https://127.0.0.1:1/dir"}, CacheDir: t.TempDir(),
		Files: []File{{Hosts: []string{"file.example.test"}, Cert: cert, Key: key}},
		Hosts: func() []string {
			return []string{"app.example.test", "file.example.test", "*.wild.example.test", "127.0.0.1"}
		}, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for host, ok := range map[string]bool{
		"app.example.test": true, "app.example.test:5002": true, "APP.example.test.": true,
		"evil.example.test": false, "file.example.test": false, "x.wild.example.test": false,
		"*.wild.example.test": false, "127.0.0.1": false, "": false,
	} {
		if err := m.policy(t.Context(), host); (err == nil) != ok {
			t.Errorf("policy(%q) = %v, want allowed %v", host, err, ok)
		}
	}
	if got := m.acmeHosts(); len(got) != 1 || got[0] != "app.example.test" {
		t.Errorf("acme hosts = %v, want [app.example.test]", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCloseDuringIssuance: Close returns promptly while the first
// certificate is still being requested from a CA that does not answer.
func TestCloseDuringIssuance(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	asked := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			asked <- c
		}
	}()
	m, err := New(Options{ACME: &ACME{DirectoryURL: "https://" + ln.Addr().String() + "/dir"}, CacheDir: t.TempDir(),
		Hosts: func() []string { return []string{"app.example.test"} }, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	select {
	case c := <-asked:
		defer c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the manager never asked the CA")
	}
	done := make(chan struct{})
	go func() { m.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // the TLS handshake to the CA alone would time out after 10s
		t.Fatal("Close waited for an issuance that the CA never answers")
	}
}

// TestObtainRetries: a host whose first certificate the CA did not give is
// asked for again with a doubling wait, and reported once.
func TestObtainRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a "CA" that hangs up at once
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	asked := make(chan struct{}, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			asked <- struct{}{}
		}
	}()
	var alerts []Alert
	m, err := New(Options{ACME: &ACME{DirectoryURL: "https://" + ln.Addr().String() + "/dir"}, CacheDir: t.TempDir(),
		Hosts: func() []string { return []string{"app.example.test"} }, CheckInterval: 10 * time.Second, Log: quiet(),
		Alert: func(a Alert) { alerts = append(alerts, a) }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	now := time.Now()
	m.obtainDue(now) // what Start does first; called directly to drive the clock
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the CA was not asked")
	}
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		r := m.retries["app.example.test"]
		if r.wait != want {
			t.Fatalf("retry %d: wait %v, want %v", i, r.wait, want)
		}
		m.obtainDue(r.next.Add(-time.Second)) // not yet due: nothing happens
		if m.retries["app.example.test"] != r {
			t.Fatalf("retry %d: tried before it was due", i)
		}
		m.obtainDue(r.next) // due: tried (autocert answers its own cached failure within a minute)
	}
	if len(alerts) != 1 || alerts[0].Problem != "not obtained" || alerts[0].Host != "app.example.test" {
		t.Errorf("alerts = %+v, want one 'not obtained'", alerts)
	}
	if st := m.Status(t.Context()); len(st) != 1 || st[0].Problem == "" {
		t.Errorf("status = %+v, want the missing certificate shown", st)
	}
}
