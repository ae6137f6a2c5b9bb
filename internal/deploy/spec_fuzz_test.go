package deploy

import (
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/health"
)

// FuzzDecodeSpec: whatever the database holds in releases.spec, decoding
// it never panics and yields a health check the watcher accepts (else an
// instance would silently go unwatched).
func FuzzDecodeSpec(f *testing.F) {
	cur := instanceSpec{Fingerprint: "now", Health: health.Check{Path: "/health", Interval: time.Second, Timeout: time.Second, HealthyThreshold: 3, Deadline: time.Minute}}
	f.Add(cur.encode())
	f.Add("")
	f.Add(`{"fingerprint":"x","health":{"Path":"/h","Interval":-1,"Timeout":1,"HealthyThreshold":0}}`)
	f.Add(`{"health":{"Path":"nope","Interval":1,"Timeout":1,"HealthyThreshold":1}}`)
	f.Fuzz(func(t *testing.T, s string) {
		got := decodeSpec(s, cur)
		w, err := health.StartWatch(t.Context(), "127.0.0.1:1", got.Health, func(bool, string) {})
		if err != nil {
			t.Fatalf("decoded a check the watcher refuses, %+v, from %q: %v", got.Health, s, err)
		}
		w.Stop()
	})
}
