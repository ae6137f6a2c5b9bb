package docker

import (
	"context"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/runtime"
)

// Prepare makes sure version's image is present: a local image is used as
// is (PullMissing), a mutable tag is pulled every time (PullAlways, see
// Config.pullPolicy), otherwise it is pulled with the service's credentials,
// with progress written to out as readable lines. When the image can be
// neither found nor pulled, the error wraps runtime.ErrArtifactMissing and
// names the exact reference and the reason (not found, unauthorized,
// registry unreachable). Prepare creates no container.
func (r *Runtime) Prepare(ctx context.Context, version string, out io.Writer) (runtime.Artifact, error) {
	if out == nil {
		out = io.Discard
	}
	ref, err := r.imageRef(version)
	if err != nil {
		return runtime.Artifact{}, fmt.Errorf("prepare %s: %w", version, err)
	}
	policy := r.cfg.pullPolicy(version)
	if policy != PullAlways {
		art, err := r.inspectImage(ctx, ref)
		if err == nil {
			return art, nil
		}
		if !cerrdefs.IsNotFound(err) {
			return runtime.Artifact{}, fmt.Errorf("prepare %s: inspect image %s: %w", version, ref, err)
		}
		if policy == PullNever {
			return runtime.Artifact{}, fmt.Errorf("prepare %s: image %s: %w: not present locally and the pull policy is never", version, ref, runtime.ErrArtifactMissing)
		}
	}
	if perr := r.pull(ctx, ref, out); perr != nil {
		if policy == PullAlways && ctx.Err() == nil {
			if art, err := r.inspectImage(ctx, ref); err == nil {
				fmt.Fprintf(out, "pull failed, using the local image %s: %v\n", ref, perr)
				r.log.Warn("pull failed; using the local image", "ref", ref, "err", perr)
				return art, nil
			}
		}
		return runtime.Artifact{}, fmt.Errorf("prepare %s: %w", version, perr)
	}
	art, err := r.inspectImage(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return runtime.Artifact{}, fmt.Errorf("prepare %s: image %s: %w: not present after a successful pull", version, ref, runtime.ErrArtifactMissing)
	}
	if err != nil {
		return runtime.Artifact{}, fmt.Errorf("prepare %s: inspect image %s: %w", version, ref, err)
	}
	return art, nil
}

// inspectImage returns the artifact of a local image: its repository digest
// when it came from a registry, else its image ID.
func (r *Runtime) inspectImage(ctx context.Context, ref string) (runtime.Artifact, error) {
	ins, err := r.cli.ImageInspect(ctx, ref)
	if err != nil {
		return runtime.Artifact{}, err
	}
	art := runtime.Artifact{Ref: ref, Digest: ins.ID}
	for _, rd := range ins.RepoDigests {
		if repo, digest, ok := strings.Cut(rd, "@"); ok && sameRepo(repo, r.cfg.Image) {
			art.Digest = digest
			break
		}
	}
	return art, nil
}

// pull pulls ref, writing progress to out. The engine reports failures
// either as the HTTP status (before any progress) or inside the JSON stream
// (after); both end up as one classified error.
func (r *Runtime) pull(ctx context.Context, ref string, out io.Writer) error {
	auth, err := r.registryAuth(ref)
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	fmt.Fprintf(out, "pulling %s\n", ref)
	r.log.Info("pulling image", "ref", ref, "authenticated", auth != "")
	resp, err := r.cli.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return pullError(ctx, ref, err)
	}
	defer resp.Close()
	p := newProgress(out)
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return pullError(ctx, ref, err)
		}
		if msg.Error != nil {
			return pullError(ctx, ref, msg.Error)
		}
		p.show(msg)
	}
	return nil
}

// Reasons a pull fails, as shown to the user.
const (
	reasonNotFound     = "not found in the registry"
	reasonUnauthorized = "unauthorized (check the registry credentials)"
	reasonUnreachable  = "registry unreachable"
)

// pullError classifies a pull failure. The engine's messages are the only
// reliable signal (errors inside the stream carry no status), so this
// matches on the phrases registries and the engine use.
func pullError(ctx context.Context, ref string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("pull %s: %w", ref, ctx.Err())
	}
	reason := "pull failed"
	msg := strings.ToLower(err.Error())
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(msg, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("repository does not exist or may require"):
		// Docker Hub's answer for both a missing and a private repository.
		reason = "not found, or unauthorized (the registry does not say which)"
	case cerrdefs.IsUnauthorized(err) || cerrdefs.IsPermissionDenied(err) ||
		has("unauthorized", "authentication required", "access denied", "denied:", "no basic auth credentials", "incorrect username or password"):
		reason = reasonUnauthorized
	case cerrdefs.IsNotFound(err) || has("manifest unknown", "not found", "does not exist", "name unknown"):
		reason = reasonNotFound
	case cerrdefs.IsUnavailable(err) || has("connection refused", "no such host", "i/o timeout", "dial tcp", "tls handshake", "network is unreachable", "server gave http response to https client", "timeout exceeded"):
		reason = reasonUnreachable
	case client.IsErrConnectionFailed(err):
		return fmt.Errorf("pull %s: %w", ref, err) // the engine is down, not the image missing
	}
	return fmt.Errorf("image %s: %w: %s: %w", ref, runtime.ErrArtifactMissing, reason, err)
}
