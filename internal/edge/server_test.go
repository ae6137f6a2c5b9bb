package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRequestsNeedTheToken: PREPARE, COMMIT, ABORT and state without the
// bearer token (or with a wrong one) are 401 and change nothing; /ready is
// open to the load balancer.
func TestRequestsNeedTheToken(t *testing.T) {
	e := startEdge(t, "edge-a", t.TempDir(), time.Minute)
	body := `{"generation":1,"routes":[{"service":"web","version":"v1","release":1,"endpoints":["127.0.0.1:1"],"health_path":"/"}]}`
	for _, tc := range []struct{ method, path, auth string }{
		{"POST", PathPrepare, ""},
		{"POST", PathPrepare, "Bearer wrong"},
		{"POST", PathCommit, "Bearer " + testToken + "x"},
		{"POST", PathAbort, ""},
		{"GET", PathState, "Basic " + testToken},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+e.addr+tc.path, strings.NewReader(body))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with %q: %d, want 401", tc.method, tc.path, tc.auth, resp.StatusCode)
		}
	}
	if st := e.srv.State(); st.Prepared != 0 || st.Committed != 0 {
		t.Errorf("state changed without the token: %+v", st)
	}
	if code := getReady(t, e); code != http.StatusServiceUnavailable {
		t.Errorf("/ready with nothing committed = %d, want 503", code)
	}
}

// TestBadGenerationsRefused: malformed bodies are 400 and a generation not
// newer than the one served is not ready; neither prepares anything.
func TestBadGenerationsRefused(t *testing.T) {
	dir := t.TempDir()
	e := startEdge(t, "edge-a", dir, time.Minute)
	c := newCoord(t, filepath.Join(dir, "leader.json"), []*testEdge{e})
	ctx := context.Background()
	ok := backend(t, "v1")
	if _, err := c.Switch(ctx, []Route{route("web", "v1", ok)}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"generation":5,"routes":[{"service":"web","version":"v1","endpoints":["no-port"],"health_path":"/"}]}`,
		`{"generation":5,"routes":[{"service":"../x","version":"v1","endpoints":["127.0.0.1:1"],"health_path":"/"}]}`,
		`{"generation":5,"routes":[{"service":"web","version":"v1","endpoints":["127.0.0.1:1"],"health_path":"http://evil/"}]}`,
		`{"generation":5,"routes":[],"extra":1}`,
		`{"generation":5,"routes":[]} {}`,
		`{"generation":0,"routes":[]}`,
	} {
		req, _ := http.NewRequest("POST", "http://"+e.addr+PathPrepare, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("PREPARE %s: %d, want 400", body, resp.StatusCode)
		}
	}
	stale := Generation{Number: 1, Routes: []Route{route("web", "v9", ok)}}
	if nr := c.prepare(ctx, []EdgeRef{e.ref()}, stale); !strings.Contains(nr["edge-a"], "not newer") {
		t.Errorf("PREPARE of the served generation: %v, want refused as not newer", nr)
	}
	if st := e.srv.State(); st.Prepared != 0 || st.Committed != 1 {
		t.Errorf("state after refused PREPAREs: %+v", st)
	}
}

// TestCorruptStateFileRefused: an edge whose state file does not parse
// refuses to start instead of serving routes it cannot trust.
func TestCorruptStateFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte(`{"generation":3,"routes":[{"service":"web"`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewServer(ServerConfig{Name: "e", Token: "t", StateFile: path, Table: &recTable{}})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("NewServer with a torn state file: %v, want an error naming it", err)
	}
}

// FuzzDecodeGeneration: whatever the bytes, decoding returns a valid
// generation or an error, never panics, and a decoded generation
// re-encodes to something that decodes to the same number of routes.
func FuzzDecodeGeneration(f *testing.F) {
	f.Add([]byte(`{"generation":1,"routes":[{"service":"web","version":"v1","release":1,"endpoints":["10.0.0.1:80"],"health_path":"/health"}]}`))
	f.Add([]byte(`{"generation":18446744073709551615,"routes":[]}`))
	f.Add([]byte(`{"generation":2,"routes":[{"service":"a","version":"v","endpoints":["[::1]:1"],"health_path":"/"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := DecodeGeneration(bytes.NewReader(data))
		if err != nil {
			return
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("decoded generation does not validate: %v", err)
		}
		again, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		g2, err := DecodeGeneration(bytes.NewReader(again))
		if err != nil || g2.Number != g.Number || len(g2.Routes) != len(g.Routes) {
			t.Fatalf("round trip of %s: %+v, %v", again, g2, err)
		}
	})
}
