package daemon

import (
	"context"
)

// hookSweeper is a runtime whose pre-traffic hooks run as something that
// can outlive a killed daemon (a container).
type hookSweeper interface {
	// RemoveOrphanHooks removes the hook runs of this state directory's
	// daemon that are left and names them.
	RemoveOrphanHooks(ctx context.Context) ([]string, error)
}

// sweepHooks removes hook containers a killed daemon left behind. It runs
// at Start, with the state directory locked and before any deploy, so no
// hook of ours can legitimately be running.
func (d *Daemon) sweepHooks(ctx context.Context) {
	for _, s := range d.sweepers {
		removed, err := s.RemoveOrphanHooks(ctx)
		if len(removed) > 0 {
			d.log.Warn("removed hook containers left by an interrupted deploy", "containers", removed)
		}
		if err != nil {
			d.log.Error("remove leftover hook containers", "err", err)
		}
	}
}
