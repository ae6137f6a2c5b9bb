package proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// front is a proxy under test served on a real loopback port, with a
// keep-alive client pointed at it.
type front struct {
	p      *Proxy
	srv    *httptest.Server
	client *http.Client
}

func newFront(t testing.TB, opts Options) *front {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	p := New(opts)
	srv, tr := startFront(p)
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	return &front{p: p, srv: srv, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// service adds a service routed from host (and prefix) and fails the test
// on error.
func (f *front) service(t testing.TB, name, host, prefix string, o ServiceOptions) *Service {
	t.Helper()
	s, err := f.p.SetService(name, []string{host}, prefix, o)
	if err != nil {
		t.Fatalf("SetService(%s): %v", name, err)
	}
	return s
}

// request builds a request to the proxy with the given Host header.
func (f *front) request(t testing.TB, method, host, path string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	return req
}

// get performs a GET with the Host header and returns status and body.
func (f *front) get(t testing.TB, host, path string) (int, string) {
	t.Helper()
	resp, err := f.client.Do(f.request(t, http.MethodGet, host, path, nil))
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s%s: read body: %v", host, path, err)
	}
	return resp.StatusCode, string(b)
}

// backend starts a loopback app that answers "<version>\n" on every path
// unless h is given.
func backend(t testing.TB, version string, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, version+"\n")
		}
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// target registers srv as a version of s.
func target(t testing.TB, s *Service, version string, srv *httptest.Server) *Target {
	t.Helper()
	tg, err := s.NewTarget(version, srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func trimNL(s string) string { return strings.TrimSuffix(s, "\n") }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
