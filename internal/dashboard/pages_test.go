package dashboard

import (
	"context"
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
