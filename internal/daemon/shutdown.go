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
