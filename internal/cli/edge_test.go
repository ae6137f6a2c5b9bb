package cli

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/edge"
)

// TestEdgeVerbServesCommittedGeneration runs `hotswap edge`'s body on
// loopback: a leader commits v1 to it and traffic reaches v1; after a
// restart the edge serves v1 again from its state file before any leader
// talks to it.
func TestEdgeVerbServesCommittedGeneration(t *testing.T) {
	dir := t.TempDir()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "v1")
	}))
	defer app.Close()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-edge\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := edge.ParseConfig([]byte(`
name: node-a
listen: 127.0.0.1:0
control: 127.0.0.1:0
token_file: ` + tokenFile + `
state_file: ` + filepath.Join(dir, "edge.json") + `
services:
  - name: web
`))
	if err != nil {
		t.Fatal(err)
	}
	token, err := cfg.Token()
	if err != nil || token != "s3cret-edge" {
		t.Fatalf("token %q, %v", token, err)
	}
	run := func() (traffic, control string, stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		addrs := make(chan [2]string, 1)
		done := make(chan error, 1)
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		go func() {
			done <- runEdge(ctx, cfg, token, quiet, func(tr, co string) { addrs <- [2]string{tr, co} })
		}()
		select {
		case a := <-addrs:
			return a[0], a[1], func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("runEdge: %v", err)
				}
			}
		case err := <-done:
			cancel()
			t.Fatalf("runEdge: %v", err)
		}
		return "", "", nil
	}

	traffic, control, stop := run()
	coord, err := edge.NewCoordinator(edge.CoordinatorConfig{
		Edges: []edge.EdgeRef{{Name: "node-a", URL: "http://" + control}},
		Token: token, Log: edge.NewFileLog(filepath.Join(dir, "leader.json")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coord.Switch(context.Background(), []edge.Route{{
		Service: "web", Version: "v1", Release: 1, HealthPath: "/",
		Endpoints: []string{strings.TrimPrefix(app.URL, "http://")},
	}}); err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, traffic); got != "v1" {
		t.Fatalf("through the edge: %q, want v1", got)
	}
	stop()

	traffic, _, stop = run()
	defer stop()
	if got := fetch(t, traffic); got != "v1" {
		t.Fatalf("restarted edge: %q, want v1 from its state file", got)
	}
}

func fetch(t *testing.T, addr string) string {
	t.Helper()
	cl := &http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
