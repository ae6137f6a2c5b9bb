package certstest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// PebbleVersion is the pebble release the tests are written against; .ci/run
// installs it with `go install`.
const PebbleVersion = "v2.10.3"

// PebbleOptions says where the CA validates challenges: the ports of the
// hotswap listeners under test (every test host resolves to 127.0.0.1).
type PebbleOptions struct {
	HTTPPort, TLSPort int
	// Validity of the certificates it issues; default 90 days.
	Validity time.Duration
}

// Pebble is a running ACME CA.
type Pebble struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// ServerRoots is a PEM file trusting the CA's own HTTPS endpoint.
	ServerRoots string
	mgmt        string
	client      *http.Client
	cmd         *exec.Cmd
}

// binary finds a tool on PATH or in GOPATH/bin, where `go install` puts it.
func binary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gobin := os.Getenv("GOBIN")
	if gobin == "" {
		gobin = filepath.Join(build.Default.GOPATH, "bin")
	}
	p := filepath.Join(gobin, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// StartPebble runs pebble-challtestsrv (DNS answering 127.0.0.1 for every
// name) and pebble on free loopback ports, both stopped at the end of the
// test. The test is skipped when the binaries are not installed.
func StartPebble(t testing.TB, o PebbleOptions) *Pebble {
	t.Helper()
	pebbleBin, challBin := binary("pebble"), binary("pebble-challtestsrv")
	if pebbleBin == "" || challBin == "" {
		t.Skipf("pebble and pebble-challtestsrv are not installed: go install github.com/letsencrypt/pebble/v2/cmd/pebble@%s "+
			"github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@%s (.ci/run does)", PebbleVersion, PebbleVersion)
	}
	if o.Validity <= 0 {
		o.Validity = 90 * 24 * time.Hour
	}
	dir := t.TempDir()
	dns := startDNS(t, dir, challBin)

	ca := NewCA(t, "pebble server test CA")
	certFile, keyFile, _ := ca.Issue(t, dir, "server", 24*time.Hour, "127.0.0.1", "localhost")
	p := &Pebble{ServerRoots: filepath.Join(dir, "server-ca.pem")}
	ca.WriteRoot(t, p.ServerRoots)
	p.client = &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	// pebble exits when its ports were taken since they were picked: try
	// fresh ones.
	for attempt := 0; attempt < 3; attempt++ {
		listen, mgmt := "127.0.0.1:"+freePort(t, "tcp"), "127.0.0.1:"+freePort(t, "tcp")
		conf := map[string]any{"pebble": map[string]any{
			"listenAddress": listen, "managementListenAddress": mgmt,
			"certificate": certFile, "privateKey": keyFile,
			"httpPort": o.HTTPPort, "tlsPort": o.TLSPort,
			"externalAccountBindingRequired": false,
			"retryAfter":                     map[string]int{"authz": 1, "order": 1},
			"keyAlgorithm":                   "ecdsa",
			"profiles": map[string]any{"default": map[string]any{
				"description": "hotswap tests", "validityPeriod": int(o.Validity.Seconds())}},
		}}
		data, _ := json.Marshal(conf)
		confFile := filepath.Join(dir, "pebble.json")
		if err := os.WriteFile(confFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
		p.cmd = run(t, dir, fmt.Sprintf("pebble-%d", attempt), pebbleBin, "-config", confFile, "-dnsserver", "127.0.0.1:"+dns)
		p.DirectoryURL = "https://" + listen + "/dir"
		p.mgmt = "https://" + mgmt
		if p.answers(10*time.Second) && p.rootsAnswer() {
			return p
		}
		p.Stop()
	}
	t.Fatalf("pebble never answered (logs in %s)", dir)
	return nil
}

// answers polls the ACME directory until it answers 200 or d passes.
func (p *Pebble) answers(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if resp, err := p.client.Get(p.DirectoryURL); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// rootsAnswer checks the management interface is pebble's too.
func (p *Pebble) rootsAnswer() bool {
	resp, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Roots trusts the certificates this CA issues (its root, from the
// management interface).
func (p *Pebble) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	resp, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatalf("pebble roots: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !pool.AppendCertsFromPEM(data) {
		t.Fatalf("pebble roots: status %d, %v", resp.StatusCode, err)
	}
	return pool
}

// Stop ends pebble now (the ACME server goes away; challtestsrv stays).
func (p *Pebble) Stop() {
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// run starts a tool with the environment pebble's docs prescribe for
// deterministic tests, logging to dir/<name>.log, killed (by its PID) at
// the end of the test.
func run(t testing.TB, dir, name, bin string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // ours, started above; a no-op once it exited
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("%s log:\n%s", name, tail(b, 4000))
			}
		}
	})
	return cmd
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// startDNS runs pebble-challtestsrv as a DNS server answering 127.0.0.1
// for every name and returns its port once it answers. challtestsrv keeps
// running when it cannot bind its DNS port (another process may have taken
// the port since it was picked), so the answer is checked and another port
// tried.
func startDNS(t testing.TB, dir, bin string) string {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t, "udp+tcp")
		cmd := run(t, dir, fmt.Sprintf("challtestsrv-%d", attempt), bin, "-dnsserver", "127.0.0.1:"+port,
			"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
			"-management", "127.0.0.1:"+freePort(t, "tcp"))
		if dnsAnswers(port) {
			return port
		}
		cmd.Process.Kill() // ours, started above
		cmd.Wait()
	}
	t.Fatalf("pebble-challtestsrv never answered DNS (logs in %s)", dir)
	return ""
}

// dnsAnswers polls the DNS server on port, over UDP and TCP, for up to 10s.
func dnsAnswers(port string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, network := range []string{"udp", "tcp"} {
			r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
			}}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			addrs, err := r.LookupHost(ctx, "probe.hotswap.test")
			cancel()
			ok = ok && err == nil && len(addrs) > 0 && addrs[0] == "127.0.0.1"
		}
		if ok {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// freePort returns a loopback port that was free a moment ago (for
// "udp+tcp": free for both, as a DNS server needs).
func freePort(t testing.TB, network string) string {
	t.Helper()
	var addr string
	switch network {
	case "udp+tcp":
		for i := 0; i < 50 && addr == ""; i++ {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if l, err := net.Listen("tcp", c.LocalAddr().String()); err == nil {
				addr = c.LocalAddr().String()
				l.Close()
			}
			c.Close()
		}
		if addr == "" {
			t.Fatal("no loopback port free for both UDP and TCP")
		}
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
	}
	_, port, _ := net.SplitHostPort(addr)
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatal(fmt.Errorf("port of %s", addr))
	}
	return port
}
