package deploy

import (
	"context"
	"fmt"

	"github.com/hotswap/hotswap/internal/release"
)

// retentionScan is how many recent releases retention looks at.
const retentionScan = 200

// keptVersions are the versions whose artifacts must stay: the live and
// warm ones and the most recent KeepReleases distinct versions that went
// live, newest first.
func (e *Engine) keptVersions(ctx context.Context, s *service) ([]string, []release.Release, error) {
	rels, err := e.store.ListReleases(ctx, s.spec().Name, retentionScan)
	if err != nil {
		return nil, nil, fmt.Errorf("list releases: %w", err)
	}
	seen := map[string]bool{}
	var keep []string
	add := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			keep = append(keep, v)
		}
	}
	s.mu.Lock()
	if s.live != nil {
		add(s.live.version)
	}
	if s.warm != nil {
		add(s.warm.version)
	}
	if s.active != nil {
		add(s.active.version)
	}
	s.mu.Unlock()
	for _, r := range rels {
		if len(keep) >= s.spec().KeepReleases {
			break
		}
		switch r.State {
		case release.Live, release.Warm, release.Retired, release.RolledBack:
			add(r.Version)
		}
	}
	return keep, rels, nil
}

// retainedIDs are the instance IDs of kept versions: left stopped, they make
// a rollback a restart rather than a pull.
func (e *Engine) retainedIDs(ctx context.Context, s *service) (map[string]bool, error) {
	keep, rels, err := e.keptVersions(ctx, s)
	if err != nil {
		return nil, err
	}
	kept := map[string]bool{}
	for _, v := range keep {
		kept[v] = true
	}
	ids := map[string]bool{}
	for _, r := range rels {
		if r.InstanceID != "" && kept[r.Version] {
			ids[r.InstanceID] = true
		}
	}
	return ids, nil
}

// retain removes stopped instances of versions beyond retention. Images are
// left to an explicit Prune, which reports what it frees.
func (e *Engine) retain(ctx context.Context, s *service) {
	keep, rels, err := e.keptVersions(ctx, s)
	if err != nil {
		e.log.Error("retention", "service", s.spec().Name, "err", err)
		return
	}
	kept := map[string]bool{}
	for _, v := range keep {
		kept[v] = true
	}
	removed := map[string]bool{}
	for _, r := range rels {
		if r.InstanceID == "" || kept[r.Version] || removed[r.InstanceID] {
			continue
		}
		if r.State != release.Retired && r.State != release.RolledBack {
			continue
		}
		s.mu.Lock()
		held := s.heldLocked(r.InstanceID)
		s.mu.Unlock()
		if held { // still serving or draining: never pulled from under its requests
			continue
		}
		removed[r.InstanceID] = true
		e.removeByID(ctx, s, r.InstanceID, r.ID)
		e.record(r.ID, func(rr *release.Release) { rr.InstanceID = "" })
	}
}

// PruneResult reports what Prune freed.
type PruneResult struct {
	Service string
	Kept    []string
	Removed []string
	Freed   int64
}

// Prune removes the artifacts (images) of versions beyond retention; a
// version that a kept release needs is never removed.
func (e *Engine) Prune(ctx context.Context, name string) (PruneResult, error) {
	s, err := e.service(name)
	if err != nil {
		return PruneResult{}, err
	}
	res := PruneResult{Service: name}
	keep, _, err := e.keptVersions(ctx, s)
	if err != nil {
		return res, err
	}
	res.Kept = keep
	e.retain(ctx, s)
	p, ok := s.spec().Runtime.(Pruner)
	if !ok {
		return res, nil
	}
	res.Removed, res.Freed, err = p.Prune(ctx, keep)
	if err != nil {
		return res, fmt.Errorf("prune %s: %w", name, err)
	}
	return res, nil
}
