package deploy

import (
	"context"
	"fmt"

	"github.com/hotswap/hotswap/internal/release"
)

// noteSameDigest says so in the release's steps when the image a deploy
// prepared has the digest of the live release's: the deploy will run the
// same code again (a tag pushed without a change, or a stale local tag
// under pull: missing). It changes nothing else.
func (e *Engine) noteSameDigest(ctx context.Context, s *service, rel int64, digest string) {
	if digest == "" {
		return
	}
	live, err := e.store.Live(ctx, s.spec().Name)
	if err != nil || live.ID == rel || live.ImageDigest != digest {
		return
	}
	e.event(rel, "prepare", release.LevelWarn, fmt.Sprintf("same image as the live release #%d (%s, %s): this deploy runs the same code", live.ID, live.Version, digest), 0)
}
