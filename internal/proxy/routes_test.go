package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestRouteLookup(t *testing.T) {
	p := New(Options{})
	svcs := map[string]*Service{}
	for _, c := range []struct {
		name, prefix string
		hosts        []string
	}{
		{"web", "", []string{"Example.com", "www.example.com"}},
		{"api", "/api", []string{"example.com"}},
		{"apiv2", "/api/v2/", []string{"example.com"}},
		{"v6", "", []string{"[::1]"}},
		{"v6b", "", []string{"fe80::1"}},
		{"fallback", "", []string{"*"}},
		{"wildapi", "/wild", []string{"*"}},
	} {
		s, err := p.SetService(c.name, c.hosts, c.prefix, ServiceOptions{})
		if err != nil {
			t.Fatalf("SetService(%s): %v", c.name, err)
		}
		svcs[c.name] = s
	}
	for _, tc := range []struct {
		host, path, want string
	}{
		{"example.com", "/", "web"},
		{"EXAMPLE.com:8080", "/index.html", "web"},
		{"example.com.", "/", "web"},
		{"www.example.com", "/api", "web"}, // api is only routed on example.com
		{"example.com", "/api", "api"},
		{"example.com", "/api/users", "api"},
		{"example.com", "/apix", "web"}, // prefixes match whole segments
		{"example.com", "/api/v2", "apiv2"},
		{"example.com", "/api/v2/items?x", "apiv2"},
		{"example.com", "/api/v20", "api"},
		{"[::1]:443", "/", "v6"},
		{"::1", "/", "v6"},
		{"[FE80::1]:8080", "/", "v6b"},
		{"other.org", "/", "fallback"},
		{"other.org", "/wild/x", "wildapi"},
		{"example.com", "/wild/x", "web"}, // a host's own routes beat "*"
	} {
		got := p.table.Load().lookup(tc.host, strings.SplitN(tc.path, "?", 2)[0])
		if got != svcs[tc.want] {
			name := "<nil>"
			if got != nil {
				name = got.Name()
			}
			t.Errorf("lookup(%q, %q) = %s, want %s", tc.host, tc.path, name, tc.want)
		}
	}

	p.RemoveService("fallback")
	if got := p.table.Load().lookup("other.org", "/"); got != nil {
		t.Errorf("after RemoveService, other.org routed to %s", got.Name())
	}
	if _, ok := p.Service("fallback"); ok {
		t.Error("Service(fallback) still found after RemoveService")
	}
}

func TestSetServiceErrors(t *testing.T) {
	p := New(Options{})
	if _, err := p.SetService("web", []string{"example.com"}, "/app", ServiceOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, prefix string
		hosts        []string
		want         error
	}{
		{"other", "/app/", []string{"EXAMPLE.COM"}, ErrRouteConflict},
		{"other", "/app", []string{"a.org", "example.com:80"}, ErrRouteConflict},
		{"", "/", []string{"a.org"}, ErrInvalidRoute},
		{"other", "/", nil, ErrInvalidRoute},
		{"other", "/", []string{"a b"}, ErrInvalidRoute},
		{"other", "/", []string{"a.org/x"}, ErrInvalidRoute},
		{"other", "api", []string{"a.org"}, ErrInvalidRoute},
		{"other", "/api?x=1", []string{"a.org"}, ErrInvalidRoute},
	} {
		if _, err := p.SetService(tc.name, tc.hosts, tc.prefix, ServiceOptions{}); !errors.Is(err, tc.want) {
			t.Errorf("SetService(%q, %q, %q) = %v, want %v", tc.name, tc.hosts, tc.prefix, err, tc.want)
		}
	}
	if _, ok := p.Service("other"); ok {
		t.Error("a failed SetService created the service")
	}
	// The owner may update its own route, and another prefix is free.
	if _, err := p.SetService("web", []string{"example.com", "b.org"}, "/app", ServiceOptions{}); err != nil {
		t.Errorf("updating own route: %v", err)
	}
	if _, err := p.SetService("other", []string{"example.com"}, "/", ServiceOptions{}); err != nil {
		t.Errorf("other prefix on same host: %v", err)
	}
}

// TestServeRouting runs requests through real sockets: host and prefix
// routing, 404, the health path and 503 without a live target.
func TestServeRouting(t *testing.T) {
	f := newFront(t, Options{})
	web := f.service(t, "web", "example.com", "", ServiceOptions{})
	api := f.service(t, "api", "example.com", "/api", ServiceOptions{StripPrefix: true})
	f.service(t, "empty", "empty.example.com", "", ServiceOptions{})

	web.Switch(target(t, web, "w1", backend(t, "w1", nil)))
	api.Switch(target(t, api, "a1", backend(t, "a1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a1 "+r.URL.RequestURI())
	})))

	for _, tc := range []struct {
		host, path string
		code       int
		body       string // substring
	}{
		{"example.com", "/", 200, "w1"},
		{"Example.COM:" + "8443", "/x", 200, "w1"},
		{"example.com", "/api/users?id=7", 200, "a1 /users?id=7"},
		{"example.com", "/api", 200, "a1 /"},
		{"example.com", "/apiary", 200, "w1"},
		{"unknown.org", "/", 404, `no service is configured for host "unknown.org"`},
		{"empty.example.com", "/", 503, `service "empty" has no live version`},
		{"unknown.org", DefaultHealthPath, 200, "ok"},
		{"empty.example.com", DefaultHealthPath, 200, "ok"},
		{"example.com", DefaultHealthPath, 200, "ok"},
	} {
		code, body := f.get(t, tc.host, tc.path)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s%s = %d %q, want %d containing %q", tc.host, tc.path, code, body, tc.code, tc.body)
		}
	}

	custom := newFront(t, Options{HealthPath: "/lb-check"})
	if code, body := custom.get(t, "any.host", "/lb-check"); code != 200 || body != "ok\n" {
		t.Errorf("custom health path = %d %q", code, body)
	}
	if code, _ := custom.get(t, "any.host", DefaultHealthPath); code != 404 {
		t.Errorf("default health path on a proxy with a custom one = %d, want 404", code)
	}
}

// TestForwardedHeaders checks what the target sees and what the client
// gets back: Host passes through, X-Forwarded-* are set, hop-by-hop
// headers are dropped both ways, and no version leaks unless asked.
func TestForwardedHeaders(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	seen := make(chan http.Header, 1)
	srv := backend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		seen <- h
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Drop-Me", "1")
		w.Header().Set("Connection", "X-Drop-Me")
		w.Header().Set("X-App", "yes")
		io.WriteString(w, "v1")
	})
	s.Switch(target(t, s, "v1", srv))

	req := f.request(t, http.MethodGet, "example.com", "/", nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Connection", "X-Secret-Hop")
	req.Header.Set("X-Secret-Hop", "1")
	req.Header.Set("Proxy-Authorization", "Basic xyz")
	req.Header.Set("X-Hotswap-Preview", "1")
	req.Header.Set("X-Custom", "kept")
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	got := <-seen

	want := map[string]string{
		"Host":              "example.com",
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "example.com",
		"X-Custom":          "kept",
	}
	for k, v := range want {
		if g := got.Get(k); g != v {
			t.Errorf("target saw %s = %q, want %q", k, g, v)
		}
	}
	for _, k := range []string{"X-Secret-Hop", "Proxy-Authorization", "X-Hotswap-Preview"} {
		if g, ok := got[k]; ok {
			t.Errorf("target saw %s = %q, want it dropped", k, g)
		}
	}
	if resp.Header.Get("X-App") != "yes" {
		t.Errorf("client lost X-App: %v", resp.Header)
	}
	for _, k := range []string{"Keep-Alive", "X-Drop-Me", "X-Hotswap-Version"} {
		if g, ok := resp.Header[k]; ok {
			t.Errorf("client got %s = %q, want it dropped", k, g)
		}
	}

	// Trusted: the load balancer's headers are kept and appended to.
	ft := newFront(t, Options{TrustForwardedHeaders: true})
	st := ft.service(t, "web", "example.com", "", ServiceOptions{VersionHeader: true})
	st.Switch(target(t, st, "v1", srv))
	req = ft.request(t, http.MethodGet, "example.com", "/", nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err = ft.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got = <-seen
	if g := got.Get("X-Forwarded-For"); g != "6.6.6.6, 127.0.0.1" {
		t.Errorf("trusted X-Forwarded-For = %q", g)
	}
	if g := got.Get("X-Forwarded-Proto"); g != "https" {
		t.Errorf("trusted X-Forwarded-Proto = %q", g)
	}
	if g := resp.Header.Get("X-Hotswap-Version"); g != "v1" {
		t.Errorf("VersionHeader on: X-Hotswap-Version = %q, want v1", g)
	}
}

// TestReadiness: the liveness path answers 200 whatever the services'
// state; the readiness path only while every required service has a live
// version that is not draining.
func TestReadiness(t *testing.T) {
	f := newFront(t, Options{ReadyPath: "/_hotswap/ready"})
	ready := func() int {
		code, _ := f.get(t, "any.host", "/_hotswap/ready")
		return code
	}
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Errorf("no services: ready = %d, want 503", code)
	}
	web := f.service(t, "web", "web.test", "", ServiceOptions{})
	api := f.service(t, "api", "api.test", "", ServiceOptions{})
	if code, _ := f.get(t, "any.host", DefaultHealthPath); code != 200 {
		t.Errorf("liveness with no live version = %d, want 200", code)
	}
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Errorf("no live versions: ready = %d, want 503", code)
	}
	v1 := target(t, web, "v1", backend(t, "v1", nil))
	web.Switch(v1)
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Errorf("api not live: ready = %d, want 503", code)
	}
	api.Switch(target(t, api, "a1", backend(t, "a1", nil)))
	if code := ready(); code != 200 {
		t.Errorf("both live: ready = %d, want 200", code)
	}
	web.Switch(nil)
	v1.Drain(context.Background())
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Errorf("web has no live version: ready = %d, want 503", code)
	}
	// A live version whose process is gone is not ready either, until a
	// connection to it succeeds again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	v2, err := web.NewTarget("v2", addr)
	if err != nil {
		t.Fatal(err)
	}
	web.Switch(v2)
	if code, _ := f.get(t, "web.test", "/"); code != http.StatusBadGateway {
		t.Fatalf("request to a dead version: %d, want 502", code)
	}
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Errorf("live version unreachable: ready = %d, want 503", code)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("could not listen again on %s: %v", addr, err)
	}
	revived := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "v2\n") })}
	go revived.Serve(ln)
	t.Cleanup(func() { revived.Close() })
	if code, _ := f.get(t, "web.test", "/"); code != 200 {
		t.Fatalf("request to the revived version: %d", code)
	}
	if code := ready(); code != 200 {
		t.Errorf("live version reachable again: ready = %d, want 200", code)
	}

	// Only the services named count.
	g := newFront(t, Options{ReadyPath: "/ready", ReadyServices: []string{"api"}})
	g.service(t, "web", "web.test", "", ServiceOptions{})
	a := g.service(t, "api", "api.test", "", ServiceOptions{})
	a.Switch(target(t, a, "a1", backend(t, "a1", nil)))
	if code, _ := g.get(t, "x", "/ready"); code != 200 {
		t.Errorf("api live, web not required: ready = %d, want 200", code)
	}
}
