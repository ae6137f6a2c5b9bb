package deploy

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hotswap/hotswap/internal/health"
	"github.com/hotswap/hotswap/internal/release"
)

// notChecked is the health reason of a re-adopted instance until its
// watcher's first probe.
const notChecked = "re-adopted after a restart; not checked yet"

// healthState is what a slot's health watcher last concluded. Status reads
// it; nothing but the watcher probes a running instance.
type healthState struct {
	healthy bool
	reason  string    // the last failure, or what restored it
	since   time.Time // when it last flipped
	checked time.Time // the watcher's last probe (zero: none yet)
}

func (sl *slot) healthState() healthState {
	sl.hmu.Lock()
	defer sl.hmu.Unlock()
	return sl.health
}

// watchHealthLocked starts probing sl's instance in the background with
// the check it was started with, every Interval; HealthyThreshold
// consecutive failures mark it unhealthy (a live one is then replaced by
// its supervisor), as many passes healthy again. Called with s.mu held
// when a slot becomes live or warm; a slot is watched once.
func (e *Engine) watchHealthLocked(s *service, sl *slot) {
	if sl.unwatch != nil {
		return
	}
	ctx, cancel := context.WithCancel(e.ctx)
	sl.unwatch = cancel
	var once sync.Once
	e.goOwned(func() {
		defer cancel()
		go func() { // an instance that ended needs no watching
			select {
			case <-sl.inst.Done():
				cancel()
			case <-ctx.Done():
			}
		}()
		onProbe := func(p health.Probe) {
			sl.hmu.Lock()
			sl.health.checked = time.Now()
			if p.OK && sl.health.reason == notChecked {
				sl.health.reason = "re-adopted after a restart; passing its checks"
			}
			sl.hmu.Unlock()
		}
		_ = health.WatchProbes(ctx, sl.inst.Addr(), sl.spec.Health, func(healthy bool, reason string) {
			sl.hmu.Lock()
			sl.health = healthState{healthy: healthy, reason: reason, since: time.Now(), checked: sl.health.checked}
			sl.hmu.Unlock()
			level, what := release.LevelInfo, "healthy again"
			if !healthy {
				level, what = release.LevelError, "unhealthy"
				once.Do(func() { close(sl.failing) })
			}
			e.event(sl.rel, "health", level, fmt.Sprintf("%s %s: %s", sl.version, what, reason), 0)
			e.signalChange()
		}, onProbe)
	})
}

// unwatchLocked stops sl's health watcher. Called with service.mu held.
func (sl *slot) unwatchLocked() {
	if sl.unwatch != nil {
		sl.unwatch()
	}
}
