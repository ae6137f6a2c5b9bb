package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/certs/certstest"
	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/loadgen"
)

// httpsRig is a daemon with proxy.tls serving a file certificate for
// web.test (and api.test), issued by a CA the clients trust.
type httpsRig struct {
	d     *Daemon
	c     *api.Client
	roots *x509.CertPool
}

// httpsOpts shapes a test daemon with HTTPS.
type httpsOpts struct {
	tls      string        // more keys of proxy.tls, indented four spaces
	web      string        // more keys of the web service, indented four spaces
	services string        // more services, as list items
	top      string        // more top-level YAML
	validity time.Duration // of the file certificate; default 30 days
}

// startHTTPS starts a daemon whose proxy.tls block holds a certificate
// file for web.test and api.test; services are the web service and more.
func startHTTPS(t *testing.T, o httpsOpts) *httpsRig {
	t.Helper()
	dir := t.TempDir()
	ca := certstest.NewCA(t, "https test CA")
	if o.validity == 0 {
		o.validity = 30 * 24 * time.Hour
	}
	cert, key, _ := ca.Issue(t, dir, "site", o.validity, "web.test", "api.test")
	y := fmt.Sprintf(`state_dir: %q
proxy:
  listen: 127.0.0.1:0
  tls:
    listen: 127.0.0.1:0
    certificates:
      - {hosts: [web.test, api.test], cert: %q, key: %q}
%scontrol:
  socket: %q
%sservices:
%s%s%s`, dir, cert, key, o.tls, filepath.Join(dir, "hs.sock"), o.top, fmt.Sprintf(webService, sampleBin), o.web, o.services)
	cfg, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	d, c := daemonClient(t, cfg)
	return &httpsRig{d: d, c: c, roots: ca.Pool()}
}

func (r *httpsRig) tlsConf(host string, protos ...string) *tls.Config {
	return &tls.Config{ServerName: host, RootCAs: r.roots, NextProtos: protos}
}

// client speaks HTTP/2 when h2 is set, else HTTP/1.1, to the HTTPS listener.
func (r *httpsRig) client(host string, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: r.tlsConf(host), ForceAttemptHTTP2: h2}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// TestHTTPSZeroDowntimeUnderLoad: deploys, a failed deploy and rollbacks
// while HTTP/1.1 and HTTP/2 clients, server-sent-event streams and
// WebSockets use the HTTPS listener: no request fails, none is answered by
// a version that was not live or draining, and each client got the
// protocol it asked for.
func TestHTTPSZeroDowntimeUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end load test; runs without -short")
	}
	r := startHTTPS(t, httpsOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	drain := 8 * time.Second // webService's drain_timeout
	tl := newTimeline()
	t0 := time.Now()
	rel := do(ctx, t, r.c, action{"deploy", "v1", "live", "v1"})
	tl.switched(rel.Version, t0, time.Now(), rel.FinishedAt, drain)

	loadCtx, stopLoad := context.WithTimeout(ctx, 3*time.Minute)
	defer stopLoad()
	url := "https://" + r.d.TLSAddr()
	h1 := loadgen.Start(loadCtx, loadgen.Options{URL: url, Host: "web.test", TLS: r.tlsConf("web.test"),
		Workers: 8, SlowWorkers: 2, SlowMS: 1000, Streams: 1, WebSockets: 2, MaxRequests: 2_000_000, Check: tl.observe})
	defer h1.Stop()
	h2 := loadgen.Start(loadCtx, loadgen.Options{URL: url, Host: "web.test", TLS: r.tlsConf("web.test"), HTTP2: true,
		Workers: 8, SlowWorkers: 2, SlowMS: 1000, Streams: 1, MaxRequests: 2_000_000, Check: tl.observe})
	defer h2.Stop()
	waitForTraffic(t, r.d, "web")

	for i, a := range []action{
		{"deploy", "v2", "live", "v2"},
		{"rollback", "", "live", "v1"}, // warm: a pointer flip
		{"deploy", "v3-unhealthy", "failed", "v1"},
		{"deploy", "v4", "live", "v4"},
		{"rollback", "v2", "live", "v2"},
		{"deploy", "v5", "live", "v5"},
	} {
		t0 := time.Now()
		rel := do(ctx, t, r.c, a)
		if a.want == "live" {
			tl.switched(rel.Version, t0, time.Now(), rel.FinishedAt, drain)
		}
		if i == 2 {
			time.Sleep(time.Second) // let streams and WebSockets span a quiet moment too
		}
	}
	for name, res := range map[string]loadgen.Result{"HTTP/1.1": h1.Stop(), "HTTP/2.0": h2.Stop()} {
		t.Logf("%s load: %s; protocols %v", name, res, res.Protos)
		if res.Failed != 0 {
			t.Errorf("%s: %d requests failed; first failures:\n%s", name, res.Failed, strings.Join(res.Failures, "\n"))
		}
		if res.Requests < 500 || res.StreamEvents == 0 {
			t.Errorf("%s: only %d requests, %d stream events: the load did not run", name, res.Requests, res.StreamEvents)
		}
		if len(res.Protos) != 1 || res.Protos[name] == 0 {
			t.Errorf("%s client got protocols %v", name, res.Protos)
		}
		if res.Versions["v3-unhealthy"] != 0 {
			t.Errorf("%s: responses from a version that never passed its health check", name)
		}
		if name == "HTTP/1.1" && res.WebSocketMsgs == 0 {
			t.Error("no WebSocket message went through")
		}
	}
	if bad := tl.judge(); len(bad) != 0 {
		t.Errorf("%d responses came from a version neither live nor draining, e.g. %+v\ntimeline:\n%s", len(bad), bad[0], tl)
	}
}

// TestHTTPSHeadersAndRedirect: the app learns the request came over HTTPS;
// HTTPS responses carry HSTS; plain HTTP for a service with redirect_http
// is redirected (keeping path, query and, for non-GET, the method) except
// the health path and ACME challenges, while another service still
// answers over plain HTTP.
func TestHTTPSHeadersAndRedirect(t *testing.T) {
	apiSvc := strings.ReplaceAll(strings.ReplaceAll(fmt.Sprintf(webService, sampleBin), "name: web", "name: api"), "web.test", "api.test")
	r := startHTTPS(t, httpsOpts{tls: "    hsts: 1h\n    acme: {directory_url: \"https://127.0.0.1:1/dir\"}\n",
		web: "    redirect_http: true\n", services: apiSvc})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	do(ctx, t, r.c, action{"deploy", "v1", "live", "v1"})
	act(ctx, t, r.c, "api", "deploy", "v1", "live")

	for _, h2 := range []bool{false, true} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+r.d.TLSAddr()+"/forwarded", nil)
		req.Host = "web.test"
		resp, err := r.client("web.test", h2).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := strings.TrimSpace(string(body)); got != "proto=https host=web.test" {
			t.Errorf("h2=%v: app saw %q, want proto=https host=web.test", h2, got)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=3600" {
			t.Errorf("h2=%v: HSTS %q, want max-age=3600", h2, got)
		}
		if (resp.ProtoMajor == 2) != h2 {
			t.Errorf("h2=%v: served over %s", h2, resp.Proto)
		}
	}

	plain := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, host, path string) *http.Response {
		req, _ := http.NewRequest(method, "http://"+r.d.ProxyAddr()+path, strings.NewReader("x"))
		req.Host = host
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	_, port, _ := strings.Cut(r.d.TLSAddr(), ":")
	for _, c := range []struct {
		method, host, path string
		status             int
		location           string
	}{
		{"GET", "web.test", "/a/b?q=1", 301, "https://web.test:" + port + "/a/b?q=1"},
		{"POST", "web.test:80", "/form", 308, "https://web.test:" + port + "/form"},
		{"GET", "web.test", "/_hotswap/up", 200, ""},
		// Not redirected: web.test is served from a file, so the challenge is
		// the app's to answer.
		{"GET", "web.test", "/.well-known/acme-challenge/some-token", 200, ""},
		{"GET", "api.test", "/forwarded", 200, ""}, // no redirect_http: plain HTTP still served
	} {
		resp := send(c.method, c.host, c.path)
		if resp.StatusCode != c.status || resp.Header.Get("Location") != c.location {
			t.Errorf("%s http://%s%s: %d Location %q, want %d %q", c.method, c.host, c.path, resp.StatusCode,
				resp.Header.Get("Location"), c.status, c.location)
		}
		if resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s http://%s%s: HSTS sent over plain HTTP", c.method, c.host, c.path)
		}
	}
	// The app behind plain HTTP is told so.
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.d.ProxyAddr()+"/forwarded", nil)
	req.Host = "api.test"
	resp, err := plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "proto=http ") {
		t.Errorf("plain HTTP: app saw %q", body)
	}
	// A name no certificate covers fails the handshake rather than getting
	// another host's certificate.
	if _, err := tls.Dial("tcp", r.d.TLSAddr(), r.tlsConf("other.test")); err == nil {
		t.Error("handshake for a name without a certificate succeeded")
	}
	st, err := r.c.Certificates(ctx)
	if err != nil || len(st) != 2 || st[0].Source != "file" || st[0].Issuer != "hotswap tests https test CA" || st[0].NotAfter.IsZero() {
		t.Errorf("certificate status = %+v, %v", st, err)
	}
}

// TestHTTP3: with http3 on, TCP responses advertise HTTP/3 with Alt-Svc
// and a QUIC client gets the app's answer through the proxy; min_version
// 1.3 refuses older clients.
func TestHTTP3(t *testing.T) {
	r := startHTTPS(t, httpsOpts{tls: "    http3: true\n    min_version: \"1.3\"\n"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	do(ctx, t, r.c, action{"deploy", "v1", "live", "v1"})

	req, _ := http.NewRequest(http.MethodGet, "https://"+r.d.TLSAddr()+"/", nil)
	req.Host = "web.test"
	resp, err := r.client("web.test", true).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := strings.Cut(r.d.TLSAddr(), ":")
	if got := resp.Header.Get("Alt-Svc"); got != `h3=":`+port+`"; ma=86400` {
		t.Errorf("Alt-Svc %q", got)
	}

	// min_version 1.3: a TLS 1.2 client is refused.
	old := r.tlsConf("web.test")
	old.MaxVersion = tls.VersionTLS12
	if c, err := tls.Dial("tcp", r.d.TLSAddr(), old); err == nil {
		c.Close()
		t.Error("a TLS 1.2 handshake succeeded with min_version 1.3")
	}

	tr := &http3.Transport{TLSClientConfig: r.tlsConf("web.test")}
	defer tr.Close()
	h3 := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, path := range []string{"/", "/forwarded"} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+r.d.TLSAddr()+path, nil)
		req.Host = "web.test"
		resp, err := h3.Do(req)
		if err != nil {
			t.Fatalf("HTTP/3 GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 3 || resp.Header.Get("X-Version") != "v1" {
			t.Errorf("HTTP/3 GET %s: %s %s version %q", path, resp.Proto, resp.Status, resp.Header.Get("X-Version"))
		}
		if path == "/forwarded" && !strings.HasPrefix(string(body), "proto=https ") {
			t.Errorf("over HTTP/3 the app saw %q", body)
		}
		if resp.Header.Get("Alt-Svc") != "" {
			t.Error("Alt-Svc sent over HTTP/3 itself")
		}
	}
}

// TestCertificateAlertNotifies: a certificate file close to expiry is
// announced to the notification sinks, once.
func TestCertificateAlertNotifies(t *testing.T) {
	got := make(chan map[string]any, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		json.NewDecoder(r.Body).Decode(&ev)
		got <- ev
	}))
	defer recv.Close()
	startHTTPS(t, httpsOpts{tls: "    reload_interval: 50ms\n", validity: 3 * 24 * time.Hour,
		top: fmt.Sprintf("notify:\n  - {kind: webhook, url: %q, events: [certificate]}\n", recv.URL)})
	select {
	case ev := <-got:
		details, _ := ev["details"].(map[string]any)
		if ev["kind"] != "tls.certificate" || details["host"] != "web.test,api.test" ||
			!strings.HasPrefix(fmt.Sprint(ev["reason"]), "expires soon") {
			t.Errorf("notification = %v", ev)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no notification about a certificate expiring in 3 days")
	}
	select {
	case ev := <-got:
		t.Errorf("told twice: %v", ev)
	case <-time.After(300 * time.Millisecond): // six more checks
	}
}
