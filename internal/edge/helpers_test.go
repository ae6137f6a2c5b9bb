package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "t0ken-for-tests"

// recTable records what an edge installed.
type recTable struct {
	mu       sync.Mutex
	routes   []Route
	installs int
	fail     error
}

func (r *recTable) Install(routes []Route) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.routes = slices.Clone(routes)
	r.installs++
	return nil
}

// version is the version the table serves for service ("" when none).
func (r *recTable) version(service string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rt := range r.routes {
		if rt.Service == service {
			return rt.Version
		}
	}
	return ""
}

func (r *recTable) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.installs
}

// testEdge is one edge on a real loopback socket that a test can cut off
// (its listener closed: connections refused) and bring back on the same
// address.
type testEdge struct {
	name  string
	srv   *Server
	table *recTable
	state string
	addr  string
	hs    *http.Server
}

func startEdge(t testing.TB, name string, dir string, lagGrace time.Duration) *testEdge {
	t.Helper()
	e := &testEdge{name: name, table: &recTable{}, state: filepath.Join(dir, name+".json")}
	e.newServer(t, lagGrace)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	e.serve(ln)
	t.Cleanup(e.stop)
	return e
}

// newServer (re)creates the edge's Server from its state file, as a
// restarted edge process does.
func (e *testEdge) newServer(t testing.TB, lagGrace time.Duration) {
	t.Helper()
	srv, err := NewServer(ServerConfig{
		Name: e.name, Token: testToken, StateFile: e.state, Table: e.table,
		ProbeTimeout: 3 * time.Second, LagGrace: lagGrace,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
}

func (e *testEdge) serve(ln net.Listener) {
	e.hs = &http.Server{Handler: e.srv.Handler()}
	go e.hs.Serve(ln)
}

func (e *testEdge) stop() {
	if e.hs != nil {
		e.hs.Close()
		e.hs = nil
	}
}

// restart listens on the edge's address again (the link is back).
func (e *testEdge) restart(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", e.addr)
		if err == nil {
			e.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("relisten on %s: %v", e.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *testEdge) ref() EdgeRef { return EdgeRef{Name: e.name, URL: "http://" + e.addr} }

func refs(edges []*testEdge) []EdgeRef {
	out := make([]EdgeRef, len(edges))
	for i, e := range edges {
		out[i] = e.ref()
	}
	return out
}

// backend is an app version on loopback: /health answers 200, except to
// the probes of the edges named in failFor (by User-Agent), which get 503.
func backend(t testing.TB, version string, failFor ...string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, name := range failFor {
			if r.UserAgent() == "hotswap-edge/"+name {
				http.Error(w, "unhealthy", http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, version)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func route(service, version string, eps ...string) Route {
	return Route{Service: service, Version: version, Release: 1, Endpoints: eps, HealthPath: "/health"}
}

func newCoord(t *testing.T, logPath string, edges []*testEdge) *Coordinator {
	t.Helper()
	c, err := NewCoordinator(CoordinatorConfig{
		Edges: refs(edges), Token: testToken, Log: NewFileLog(logPath),
		PrepareTimeout: 10 * time.Second, CommitTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// errCrash ends a round the way a killed leader does.
var errCrash = errors.New("leader killed")

// serving asserts every edge serves want for service and has committed
// generation gen (on disk too: a fresh Server from its file agrees).
func serving(t *testing.T, edges []*testEdge, service, want string, gen uint64) {
	t.Helper()
	for _, e := range edges {
		if got := e.table.version(service); got != want {
			t.Errorf("edge %s serves %s %q, want %q", e.name, service, got, want)
		}
		st := e.srv.State()
		if st.Committed != gen {
			t.Errorf("edge %s committed %d, want %d", e.name, st.Committed, gen)
		}
		if st.Prepared != 0 {
			t.Errorf("edge %s still holds prepared generation %d", e.name, st.Prepared)
		}
		g, err := loadGeneration(e.state)
		if err != nil || g.Number != gen {
			t.Errorf("edge %s state file: generation %d (%v), want %d", e.name, g.Number, err, gen)
		}
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getReady(t *testing.T, e *testEdge) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s%s", e.addr, PathReady), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s/ready: %v", e.name, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
