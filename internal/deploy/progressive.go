package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/hotswap/hotswap/internal/release"
	rt "github.com/hotswap/hotswap/internal/runtime"
)

// Progressive holds how a service moves traffic beyond a plain switch.
type Progressive struct {
	// Strategy is "bluegreen" (the default).
	Strategy string
}

func (p Progressive) strategyName() string {
	if p.Strategy == "" {
		return "bluegreen"
	}
	return p.Strategy
}

// preview holds a healthy new version before the switch when the request
// asked for it (deploy --hold): requests that carry the service's preview
// header or cookie reach it, everyone else stays on the live version, until
// Promote (continue) or Abort (remove it).
func (e *Engine) preview(ctx context.Context, s *service, d *deployment, inst rt.Instance) error {
	if !d.req.Hold {
		return nil
	}
	t, err := s.route.NewTarget(d.version, inst.Addr())
	if err != nil {
		return &failure{step: "preview", err: err}
	}
	s.route.SetPreview(t)
	defer func() {
		s.route.ClearPreview()
		dctx, cancel := context.WithTimeout(context.Background(), s.spec.DrainTimeout)
		defer cancel()
		_ = t.Drain(dctx) // preview requests finish before anything is removed
	}()
	step := time.Now()
	e.event(d.rel, "preview", release.LevelInfo, fmt.Sprintf("holding: requests with header %s or cookie %s reach %s; `hotswap promote %s` to continue, `hotswap abort %s` to stop",
		orDefault(s.spec.Proxy.PreviewHeader, "(none)"), orDefault(s.spec.Proxy.PreviewCookie, "(none)"), d.version, s.spec.Name, s.spec.Name), 0)
	for {
		select {
		case c := <-d.control:
			if c == cmdPromote {
				e.event(d.rel, "preview", release.LevelInfo, "promoted", time.Since(step))
				return nil
			}
			return errAborted
		case <-inst.Done():
			return e.diagnose(inst, "preview", rt.ErrExited)
		case <-ctx.Done():
			if e.ctx.Err() == nil {
				return errAborted
			}
			return ctx.Err()
		}
	}
}

// bake watches the new version after the switch while the previous one is
// still warm. Without analysis settings there is nothing to judge.
func (e *Engine) bake(ctx context.Context, s *service, d *deployment) error {
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
