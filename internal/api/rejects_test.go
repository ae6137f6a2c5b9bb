package api

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/release"
)

// TestRejectsAggregatesPerSource: per source and window, the first few
// rejections are audited one by one and the rest become one summary row
// when the window ends; a source past the limit is Limited, another is
// not; the number of tracked sources is bounded.
func TestRejectsAggregatesPerSource(t *testing.T) {
	ctx := context.Background()
	st, err := release.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := NewRejects(st, nil)
	now := time.Now()
	g.now = func() time.Time { return now }
	reject := func(remote string) {
		g.Record(ctx, release.Audit{Action: "GET /x", Actor: "?", Source: release.SourceAPI, Outcome: release.OutcomeRejected, Remote: remote})
	}
	for i := 0; i < rejectsLimit; i++ {
		reject("10.0.0.1:1234")
	}
	reject("10.0.0.2:999")
	if !g.Limited("10.0.0.1:5555") || g.Limited("10.0.0.2:1") {
		t.Errorf("Limited: 10.0.0.1 %v (want true), 10.0.0.2 %v (want false)", g.Limited("10.0.0.1:5555"), g.Limited("10.0.0.2:1"))
	}
	now = now.Add(rejectsWindow + time.Second)
	reject("10.0.0.3:1") // a later rejection ends the windows that are over
	if g.Limited("10.0.0.1:1") {
		t.Error("still limited after the window")
	}
	rows, err := st.ListAudit(ctx, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	summaries, single := 0, 0
	for _, a := range rows {
		if strings.Contains(a.Detail, fmt.Sprintf("%d more rejected requests from 10.0.0.1", rejectsLimit-rejectsAudited)) {
			summaries++
		} else {
			single++
		}
	}
	if summaries != 1 || single != rejectsAudited+2 {
		t.Errorf("%d summary rows and %d single rows, want 1 and %d", summaries, single, rejectsAudited+2)
	}

	for i := 0; i < rejectsSources+10; i++ {
		reject(fmt.Sprintf("10.1.%d.%d:1", i/256, i%256))
	}
	g.mu.Lock()
	n := len(g.sources)
	g.mu.Unlock()
	if n > rejectsSources+1 {
		t.Errorf("%d sources tracked, bound %d", n, rejectsSources+1)
	}
}
