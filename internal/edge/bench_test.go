package edge

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSwitchRound is one whole generation round on three loopback
// edges: intent, PREPARE with a health probe per edge, the commit record,
// COMMIT with each edge's state file written and synced. It alternates
// between two running versions, so every round is a warm rollback.
func BenchmarkSwitchRound(b *testing.B) {
	dir := b.TempDir()
	var edges []*testEdge
	for _, n := range []string{"edge-a", "edge-b", "edge-c"} {
		edges = append(edges, startEdge(b, n, dir, time.Minute))
	}
	c, err := NewCoordinator(CoordinatorConfig{
		Edges: refs(edges), Token: testToken, Log: NewFileLog(filepath.Join(dir, "leader.json")),
	})
	if err != nil {
		b.Fatal(err)
	}
	routes := [][]Route{{route("web", "v1", backend(b, "v1"))}, {route("web", "v2", backend(b, "v2"))}}
	ctx := context.Background()
	var skew time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := c.Switch(ctx, routes[i%2])
		if err != nil {
			b.Fatal(err)
		}
		skew += res.Skew
	}
	b.ReportMetric(float64(skew.Microseconds())/float64(b.N), "skew-µs/op")
}
