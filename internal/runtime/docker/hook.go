package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// RunHook runs argv as the command of a one-off container of version (a
// migration): the image's entrypoint (or Config.Entrypoint) is kept, as
// with `docker run image argv…`, and the container gets the service's env,
// env files, network, volumes, user and limits, but no published port. Its
// output is streamed to out. The container is removed afterwards whatever
// happens; when ctx ends first it is killed and the ctx error returned. A
// non-zero exit is an error naming the exit code.
func (r *Runtime) RunHook(ctx context.Context, version string, argv []string, out io.Writer) (err error) {
	if out == nil {
		out = io.Discard
	}
	if len(argv) == 0 {
		return fmt.Errorf("hook for %s: empty command", version)
	}
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("hook %q (version %s): %w", argv, version, ctx.Err())
		}
	}()
	art, err := r.Prepare(ctx, version, out)
	if err != nil {
		return fmt.Errorf("hook %q: %w", argv, err)
	}
	env, _, err := r.environment(version, 0, nil)
	if err != nil {
		return fmt.Errorf("hook %q (version %s): %w", argv, version, err)
	}
	if err := r.ensureNetwork(ctx); err != nil {
		return fmt.Errorf("hook %q (version %s): %w", argv, version, err)
	}
	cfg, hc, nc := r.containerConfig(art.Ref, env, r.hookLabels(version))
	cfg.Cmd = argv
	cfg.ExposedPorts = nil
	id, err := r.createContainer(ctx, client.ContainerCreateOptions{
		Name: r.hookName(version), Config: cfg, HostConfig: hc, NetworkingConfig: nc,
	})
	if err != nil {
		return fmt.Errorf("hook %q (version %s): create container: %w", argv, version, err)
	}
	defer r.removeQuietly(ctx, id) // whatever happens, even after ctx ended

	wctx, cancel := context.WithCancel(ctx)
	wait := r.cli.ContainerWait(wctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	waited := false // whether the wait's one value was taken
	defer func() {
		cancel()
		if !waited {
			releaseWait(wait)
		}
	}()
	if _, err := r.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("hook %q (version %s): start container: %w", argv, version, err)
	}
	r.log.Info("hook started", "version", version, "argv", argv, "id", short(id))
	logs, err := r.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return fmt.Errorf("hook %q (version %s): logs: %w", argv, version, err)
	}
	// Returns when the container stops (the log stream ends) or ctx ends.
	_, copyErr := stdcopy.StdCopy(out, out, logs)
	logs.Close()
	select {
	case res := <-wait.Result:
		waited = true
		if res.StatusCode != 0 {
			return fmt.Errorf("hook %q (version %s) failed: %s", argv, version, exitFromCode(int(res.StatusCode)).String())
		}
		if copyErr != nil {
			return fmt.Errorf("hook %q (version %s): output: %w", argv, version, copyErr)
		}
		return nil
	case err := <-wait.Error:
		waited = true
		return fmt.Errorf("hook %q (version %s): wait: %w", argv, version, err)
	case <-ctx.Done():
		return ctx.Err() // wrapped by the deferred func
	}
}

// hookLabels mark hook containers as ours but not as instances, so List
// never reports them.
func (r *Runtime) hookLabels(version string) map[string]string {
	l := make(map[string]string, len(r.cfg.Labels)+3)
	for k, v := range r.cfg.Labels {
		l[k] = v
	}
	l[LabelManaged] = "true"
	l[LabelOwner] = r.cfg.Owner
	l[LabelHook] = r.cfg.Service
	l[LabelVersion] = version
	return l
}

// hookName is "hotswap-<service>-hook-<version>-<random>": unique, since
// hooks of one version may run more than once.
func (r *Runtime) hookName(version string) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "hotswap-" + r.cfg.Service + "-hook-" + versionSlug(version) + "-" + hex.EncodeToString(b[:])
}

// RemoveOrphanHooks removes this service's hook containers created by this
// state directory's daemon, and returns their names. A hook container lives
// only as long as the RunHook that created it, so at daemon start (with the
// state directory locked, before any deploy) every one left is an orphan:
// its daemon was killed during the hook.
func (r *Runtime) RemoveOrphanHooks(ctx context.Context) ([]string, error) {
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: r.ownFilter(LabelHook + "=" + r.cfg.Service)})
	if err != nil {
		return nil, fmt.Errorf("list hook containers of %s: %w", r.cfg.Service, err)
	}
	var removed []string
	for _, c := range res.Items {
		_, err := r.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			return removed, fmt.Errorf("remove hook container %s: %w", short(c.ID), err)
		}
		name := short(c.ID)
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		removed = append(removed, name)
	}
	return removed, nil
}
