package webhook

import (
	"context"
	"sync"
	"time"
)

// ReplayStore keeps the generic replay window durably. ClaimReplay
// returns the delivery id sig was first accepted under while that claim
// has not expired, else records deliveryID for sig until expires and
// returns it. Implemented by the daemon's release store.
type ReplayStore interface {
	ClaimReplay(ctx context.Context, sig, deliveryID string, expires time.Time) (string, error)
}

// replayCache remembers, for generic requests, which delivery id each
// signature was first accepted under, until its timestamp leaves the
// window. A replay of a captured request (same signature) then maps to the
// same delivery id whatever X-Hotswap-Delivery says, and the Enqueuer
// reports it as a duplicate. Only authenticated requests are added, so its
// size follows legitimate traffic; it is bounded anyway.
type replayCache struct {
	max int

	mu      sync.Mutex // guards entries
	entries map[string]replayEntry
}

type replayEntry struct {
	deliveryID string
	expires    time.Time
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, entries: make(map[string]replayEntry)}
}

// claim returns the delivery id to use for sig: the one it was first seen
// with if still remembered, else deliveryID, which is then remembered until
// expires.
func (c *replayCache) claim(sig, deliveryID string, now, expires time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[sig]; ok && now.Before(e.expires) {
		return e.deliveryID
	}
	if len(c.entries) >= c.max {
		c.evictLocked(now)
	}
	c.entries[sig] = replayEntry{deliveryID: deliveryID, expires: expires}
	return deliveryID
}

// evictLocked drops expired entries, and if none had expired, the one
// closest to expiry (whose signature will be rejected as stale soonest).
func (c *replayCache) evictLocked(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
			continue
		}
		if oldest == "" || e.expires.Before(oldestAt) {
			oldest, oldestAt = k, e.expires
		}
	}
	if len(c.entries) >= c.max && oldest != "" {
		delete(c.entries, oldest)
	}
}
