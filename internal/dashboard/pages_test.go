package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// counting counts Backend.Services calls, each of which probes every
// running instance in the real backend.
type counting struct {
	*scripted
	calls atomic.Int32
}

func (c *counting) Services(ctx context.Context) ([]ServiceView, error) {
	c.calls.Add(1)
	return c.scripted.Services(ctx)
}

// TestViewersShareOneSnapshot: page loads within a second share one
// backend read; a change is seen at once all the same.
func TestViewersShareOneSnapshot(t *testing.T) {
	cb := &counting{scripted: newScripted()}
	h, srv := newServer(t, cb, nil)
	now := time.Now()
	h.now = func() time.Time { return now }
	b := newBrowser(t, srv)
	b.login(deployerSecret)
	for i := 0; i < 5; i++ {
		if code, _, _ := b.get("/ui/"); code != http.StatusOK {
			t.Fatal(code)
		}
	}
	if n := cb.calls.Load(); n != 1 {
		t.Errorf("5 page loads in the same second read the services %d times, want 1", n)
	}
	cb.mu.Lock()
	cb.services[0].Live = &VersionView{Version: "v9", Release: 9, Health: "healthy"}
	close(cb.changed)
	cb.changed = make(chan struct{})
	cb.mu.Unlock()
	if _, body, _ := b.get("/ui/"); !strings.Contains(body, ">v9<") || cb.calls.Load() != 2 {
		t.Errorf("after a change: %d reads, v9 shown %v", cb.calls.Load(), strings.Contains(body, ">v9<"))
	}
	now = now.Add(snapshotAge)
	b.get("/ui/")
	if n := cb.calls.Load(); n != 3 {
		t.Errorf("after %s: %d reads, want 3", snapshotAge, n)
	}
}

// BenchmarkServicePage renders the service page with a full history (50
// releases with notes and commit links) and reports its weight for a
// deployer (a roll-back form per row) and a viewer, for bench/RESULTS.md.
func BenchmarkServicePage(b *testing.B) {
	sb := newScripted()
	for i := 3; i <= historyLimit; i++ {
		sb.releases = append(sb.releases, ReleaseView{ID: int64(i), Service: "web", Version: fmt.Sprintf("v%d", i), Kind: "deploy",
			State: "retired", Trigger: "webhook (github)", Actor: "ci", Note: "fix checkout totals",
			Commit: "0123456789abcdef0123456789abcdef01234567", Created: time.Now(), Duration: time.Second, Settled: true})
	}
	_, srv := newServer(b, sb, nil)
	for _, who := range []struct{ name, secret string }{{"deployer", deployerSecret}, {"viewer", viewerSecret}} {
		b.Run(who.name, func(b *testing.B) {
			br := newBrowser(b, srv)
			br.login(who.secret)
			var size int
			for b.Loop() {
				_, body, _ := br.get("/ui/services/web")
				size = len(body)
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}
