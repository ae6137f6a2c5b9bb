package edge

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/loadgen"
	"github.com/hotswap/hotswap/internal/proxy"
)

// appServer is a version of an app on loopback that names itself in
// X-Version (what loadgen counts) and answers /health.
func appServer(t *testing.T, version string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", version)
		io.WriteString(w, version)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// proxyEdge is an edge whose table is a real proxy serving on loopback.
type proxyEdge struct {
	*testEdge
	proxyURL string
	table    *ProxyTable
}

func startProxyEdge(t *testing.T, name, dir string) proxyEdge {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := proxy.New(proxy.Options{Logger: quiet})
	if _, err := p.SetService("web", []string{"*"}, "/", proxy.ServiceOptions{}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ps := &http.Server{Handler: p}
	go ps.Serve(ln)
	t.Cleanup(func() { ps.Close() })

	e := &testEdge{name: name, state: filepath.Join(dir, name+".json")}
	table := &ProxyTable{Proxy: p, Local: "127.0.0.1", DrainTimeout: 5 * time.Second, Log: quiet}
	srv, err := NewServer(ServerConfig{Name: name, Token: testToken, StateFile: e.state, Table: table, ProbeTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = cl.Addr().String()
	e.serve(cl)
	t.Cleanup(e.stop)
	return proxyEdge{testEdge: e, proxyURL: "http://" + ln.Addr().String(), table: table}
}

// TestSwitchUnderLoadThroughEveryEdge: three edges, each a real proxy with
// load on it; deploy v1→v2 and roll back to the still-running v1 (a warm
// rollback is just another generation). No request fails on any edge, and
// after each commit every edge serves the committed version.
func TestSwitchUnderLoadThroughEveryEdge(t *testing.T) {
	dir := t.TempDir()
	var edges []proxyEdge
	var plain []*testEdge
	for _, n := range []string{"edge-a", "edge-b", "edge-c"} {
		e := startProxyEdge(t, n, dir)
		edges = append(edges, e)
		plain = append(plain, e.testEdge)
	}
	c := newCoord(t, filepath.Join(dir, "leader.json"), plain)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v1, v2 := appServer(t, "v1"), appServer(t, "v2")
	if _, err := c.Switch(ctx, []Route{route("web", "v1", v1)}); err != nil {
		t.Fatal(err)
	}

	var loads []*loadgen.Background
	for _, e := range edges {
		loads = append(loads, loadgen.Start(ctx, loadgen.Options{URL: e.proxyURL, Workers: 2, MaxRequests: 200000}))
	}
	settle := func(want string) {
		t.Helper()
		for _, e := range edges {
			waitFor(t, 5*time.Second, e.name+" serves "+want, func() bool { return get(e.proxyURL) == want })
		}
	}
	// Load runs a while on each version: the window of each switch is then
	// inside a stream of requests, not at its edge.
	hold := func() { time.Sleep(300 * time.Millisecond) }
	hold()
	res, err := c.Switch(ctx, []Route{route("web", "v2", v2)})
	if err != nil {
		t.Fatal(err)
	}
	settle("v2")
	hold()
	t.Logf("deploy v1→v2: generation %d, commit skew %v", res.Generation, res.Skew)
	begin := time.Now()
	res, err = c.Switch(ctx, []Route{route("web", "v1", v1)})
	took := time.Since(begin)
	if err != nil {
		t.Fatal(err)
	}
	settle("v1")
	hold()
	t.Logf("warm rollback v2→v1: %v end to end at the leader, commit skew %v", took, res.Skew)

	for i, l := range loads {
		r := l.Stop()
		if r.Failed != 0 {
			t.Errorf("%s: %s\nfailures: %v", edges[i].name, r, r.Failures)
		}
		if r.Versions["v1"] == 0 || r.Versions["v2"] == 0 {
			t.Errorf("%s saw %v: want both versions served", edges[i].name, r.Versions)
		}
	}
}

func get(url string) string {
	resp, err := http.Get(url + "/")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestWatchMovesOffALostEndpoint: the edge serves a version from its
// preferred endpoint; that endpoint dies (its node is lost). Within a few
// watch intervals the edge serves the same version from the other
// endpoint, and from then on no request fails — without waiting for the
// leader's next generation.
func TestWatchMovesOffALostEndpoint(t *testing.T) {
	dir := t.TempDir()
	e := startProxyEdge(t, "edge-a", dir)
	c := newCoord(t, filepath.Join(dir, "leader.json"), []*testEdge{e.testEdge})
	lost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", "v1")
		io.WriteString(w, "v1")
	}))
	defer lost.Close()
	other := appServer(t, "v1")
	lostAddr := strings.TrimPrefix(lost.URL, "http://")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := c.Switch(ctx, []Route{route("web", "v1", lostAddr, other)}); err != nil {
		t.Fatal(err)
	}
	svc, _ := e.table.Proxy.Service("web")
	if got := svc.Live().Addr(); got != lostAddr {
		t.Fatalf("live endpoint %s, want the first, %s", got, lostAddr)
	}
	watched := make(chan error, 1)
	go func() { watched <- e.table.Watch(ctx, 50*time.Millisecond) }()
	defer func() {
		cancel()
		<-watched
	}()

	lost.CloseClientConnections()
	lost.Close()
	killed := time.Now()
	waitFor(t, 5*time.Second, "edge moves to the other endpoint", func() bool { return svc.Live().Addr() == other })
	t.Logf("edge left the lost endpoint %v after it died (watch interval 50ms)", time.Since(killed).Round(time.Millisecond))
	lctx, lcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer lcancel()
	if r := loadgen.Run(lctx, loadgen.Options{URL: e.proxyURL, Workers: 2, MaxRequests: 100000}); r.Failed != 0 || r.Requests == 0 {
		t.Errorf("after the move: %s; failures %v", r, r.Failures)
	}
}
