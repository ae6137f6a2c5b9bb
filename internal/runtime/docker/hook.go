package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"

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
	res, err := r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: r.hookName(version), Config: cfg, HostConfig: hc, NetworkingConfig: nc,
	})
	if err != nil {
		return fmt.Errorf("hook %q (version %s): create container: %w", argv, version, err)
	}
	id := res.ID
	defer r.removeHook(ctx, id)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wait := r.cli.ContainerWait(wctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
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
		if res.StatusCode != 0 {
			return fmt.Errorf("hook %q (version %s) failed: %s", argv, version, exitFromCode(int(res.StatusCode)).String())
		}
		if copyErr != nil {
			return fmt.Errorf("hook %q (version %s): output: %w", argv, version, copyErr)
		}
		return nil
	case err := <-wait.Error:
		return fmt.Errorf("hook %q (version %s): wait: %w", argv, version, err)
	case <-ctx.Done():
		return ctx.Err() // wrapped by the deferred func
	}
}

// removeHook kills and removes a hook container. It runs with a bound of
// its own because it must happen even when ctx has ended.
func (r *Runtime) removeHook(ctx context.Context, id string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := r.cli.ContainerRemove(cctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		r.log.Error("remove hook container", "id", short(id), "err", err)
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
