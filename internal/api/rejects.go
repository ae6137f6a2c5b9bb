package api

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hotswap/hotswap/internal/release"
)

// Rejects bounds what rejected requests (no or a wrong token, a bad
// signature, a malformed body) can cost the daemon, per source address:
//
//   - the first rejectsAudited of a source in each window are audited one
//     row each; the rest are counted and written as one summary row when
//     the window ends, so a flood writes a few rows per source per minute;
//   - after rejectsLimit in a window, the TCP listener answers the source's
//     requests without a valid token 429 at once (a valid token is never
//     limited);
//   - at most rejectsSources sources are tracked; beyond that they share
//     one entry, so the table itself is bounded too.
//
// Every field of every row is bounded by the store (release.MaxAuditShort,
// MaxAuditDetail). Safe for concurrent use.
type Rejects struct {
	store *release.Store
	log   *slog.Logger
	now   func() time.Time

	mu        sync.Mutex // guards sources and lastSweep
	sources   map[string]*rejectWindow
	lastSweep time.Time
}

const (
	rejectsWindow  = time.Minute
	rejectsAudited = 10
	rejectsLimit   = 60
	rejectsSources = 4096
	rejectsOther   = "(other sources)"
)

// rejectWindow is one source's count in the current window.
type rejectWindow struct {
	start      time.Time
	n          int           // rejected requests in this window
	suppressed int           // of those, not audited one by one
	last       release.Audit // the last suppressed one, for the summary
}

// NewRejects returns the rejected-request gate writing to store.
func NewRejects(store *release.Store, log *slog.Logger) *Rejects {
	if log == nil {
		log = slog.Default()
	}
	return &Rejects{store: store, log: log, now: time.Now, sources: map[string]*rejectWindow{}}
}

// sourceOf is the host of a remote address ("unix" stays "unix").
func sourceOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// Limited reports whether remote has been rejected so often in this
// window that its requests are refused unread (429).
func (g *Rejects) Limited(remote string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.sources[sourceOf(remote)]
	return w != nil && g.now().Sub(w.start) < rejectsWindow && w.n >= rejectsLimit
}

// Record audits a rejected request a, or counts it for its source's
// summary row.
func (g *Rejects) Record(ctx context.Context, a release.Audit) {
	now := g.now()
	src := sourceOf(a.Remote)
	var write []release.Audit
	g.mu.Lock()
	if now.Sub(g.lastSweep) >= rejectsWindow/4 {
		write = g.sweepLocked(now, false)
		g.lastSweep = now
	}
	w := g.sources[src]
	if w == nil {
		if len(g.sources) >= rejectsSources {
			src = rejectsOther
			w = g.sources[src]
		}
		if w == nil {
			w = &rejectWindow{start: now}
			g.sources[src] = w
		}
	}
	w.n++
	if w.n <= rejectsAudited {
		write = append(write, a)
	} else {
		w.suppressed++
		w.last = a
	}
	g.mu.Unlock()
	g.write(ctx, write)
}

// Flush writes the summary rows of every source with suppressed requests
// (at daemon shutdown).
func (g *Rejects) Flush(ctx context.Context) {
	g.mu.Lock()
	write := g.sweepLocked(g.now(), true)
	g.mu.Unlock()
	g.write(ctx, write)
}

// sweepLocked ends the windows that are over (all with force) and returns
// their summary rows.
func (g *Rejects) sweepLocked(now time.Time, force bool) []release.Audit {
	var out []release.Audit
	for src, w := range g.sources {
		if !force && now.Sub(w.start) < rejectsWindow {
			continue
		}
		if w.suppressed > 0 {
			l := w.last
			out = append(out, release.Audit{At: now, Actor: l.Actor, Source: l.Source, Action: "rejected (aggregated)",
				Service: l.Service, Outcome: release.OutcomeRejected, Remote: src,
				Detail: fmt.Sprintf("%d more rejected requests from %s between %s and %s were not audited one by one; the last: %.200s: %.500s",
					w.suppressed, src, w.start.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), l.Action, l.Detail)})
		}
		delete(g.sources, src)
	}
	return out
}

func (g *Rejects) write(ctx context.Context, rows []release.Audit) {
	for _, a := range rows {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := g.store.AppendAudit(actx, a); err != nil {
			g.log.Error("audit", "action", a.Action, "err", err)
		}
		cancel()
	}
}
