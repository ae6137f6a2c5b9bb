package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// announceStop logs what Close is about to wait for, so an operator
// watching `systemctl stop` knows why it is not instant.
func (d *Daemon) announceStop(ctx context.Context) {
	var deploys []string
	if d.engine != nil {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := d.engine.Status(sctx, "")
		cancel()
		if err == nil {
			for _, s := range st {
				if a := s.Active; a != nil {
					deploys = append(deploys, fmt.Sprintf("%s %s %s (release #%d)", s.Service, a.Kind, a.Version, a.Release))
				}
			}
		}
	}
	limit := "no limit"
	if dl, ok := ctx.Deadline(); ok {
		limit = time.Until(dl).Round(time.Second).String()
	}
	what := "in-flight requests"
	if len(deploys) > 0 {
		what += " and the running deploys to record their end (" + strings.Join(deploys, ", ") + "; they end as interrupted)"
	}
	d.log.Info("stopping: waiting for "+what, "up_to", limit)
}

// shutdownBudget is ctx with its deadline moved earlier by a fifth of the
// time left (at most 5s), for the servers' shutdown; the rest is kept for
// the engine and the store.
func shutdownBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := min(time.Until(dl)/5, 5*time.Second)
	return context.WithDeadline(ctx, dl.Add(-reserve))
}
