package swarm

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/runtime"
	"github.com/hotswap/hotswap/internal/runtime/docker"
)

// RunHook runs argv once as a one-replica service of version that Swarm
// never restarts, waits for its task to end, copies its output to out and
// removes the service. A non-zero exit is an error saying the code; when
// ctx ends first the service is removed and ctx's error returned.
func (r *Runtime) RunHook(ctx context.Context, version string, argv []string, out io.Writer) error {
	ref, err := docker.ImageRef(r.cfg.Image, version)
	if err != nil {
		return fmt.Errorf("hook %s: %w", version, err)
	}
	image, err := r.pin(ctx, ref)
	if err != nil {
		return fmt.Errorf("hook %s: %w", version, err)
	}
	name := "hs-" + r.cfg.Service + "-hook-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	spec := r.serviceSpec(name, image, runtime.Spec{Version: version})
	spec.Labels[LabelHook] = r.cfg.Service
	spec.TaskTemplate.ContainerSpec.Args = argv
	spec.EndpointSpec = nil
	one := uint64(1)
	spec.Mode.Replicated.Replicas = &one
	res, err := r.cli.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec})
	if err != nil {
		return fmt.Errorf("hook %s: create service: %w", version, err)
	}
	defer r.removeQuietly(ctx, res.ID)
	inst := r.newInstance(res.ID, version)
	defer inst.cancel()
	if err := inst.awaitOver(ctx); err != nil {
		return fmt.Errorf("hook %s %q: %w", version, argv, ctx.Err())
	}
	logs, err := r.cli.ServiceLogs(ctx, res.ID, client.ServiceLogsOptions{ShowStdout: true, ShowStderr: true})
	if err == nil {
		_, _ = stdcopy.StdCopy(out, out, logs)
		logs.Close()
	}
	e, _ := inst.Exit()
	if e.Err != nil {
		return fmt.Errorf("hook %s %q: %w", version, argv, e.Err)
	}
	if e.Code != 0 {
		return fmt.Errorf("hook %s %q: exit code %d", version, argv, e.Code)
	}
	return nil
}
