package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/runtime"
)

var _ runtime.Runtime = (*Runtime)(nil)

// Runtime runs the versions of one service as containers. It keeps no
// record of its containers: the engine is the source of truth (labels), so
// a Runtime survives daemon restarts. It is safe for concurrent use.
type Runtime struct {
	cli  *client.Client // shared, safe for concurrent use
	cfg  Config         // validated, defaults applied; read-only
	port network.Port   // cfg.Port as "<port>/tcp"
	log  *slog.Logger

	// reuseMu serialises finding and restarting a stopped container, so
	// two concurrent Starts of one version never claim the same container.
	reuseMu sync.Mutex
}

// New validates cfg and returns the service's runtime. It does not touch
// the engine (ctx is unused today), so a daemon starts even while Docker is
// down; the network is created at the first Start or RunHook. cli should
// have negotiated its API version (client.Ping with NegotiateAPIVersion).
// log may be nil.
func New(ctx context.Context, cli *client.Client, cfg Config, log *slog.Logger) (*Runtime, error) {
	if cli == nil {
		return nil, errors.New("docker runtime: nil client")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	port, _ := network.PortFrom(uint16(cfg.Port), network.TCP)
	return &Runtime{
		cli:  cli,
		cfg:  cfg,
		port: port,
		log:  log.With("runtime", "docker", "service", cfg.Service),
	}, nil
}

// Config returns the runtime's configuration with defaults applied (Reach
// "auto" resolved), for status pages and tests.
func (r *Runtime) Config() Config { return r.cfg }

// stopTimeout is StopGrace in the engine's unit, whole seconds, rounded up.
func (r *Runtime) stopTimeout() int {
	return int(math.Ceil(r.cfg.StopGrace.Seconds()))
}

// Start starts spec.Version. A stopped container of the same version
// created with identical settings is started again (a rollback); otherwise
// a new container is created. On failure nothing it created is left.
func (r *Runtime) Start(ctx context.Context, spec runtime.Spec) (runtime.Instance, error) {
	ref, err := r.imageRef(spec.Version)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Version, err)
	}
	env, forHash, err := r.environment(spec.Version, spec.ReleaseID, spec.Env)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Version, err)
	}
	if err := r.ensureNetwork(ctx); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Version, err)
	}
	// The image the tag points at now is part of the settings: after a
	// push moved the tag, a stopped container of the old image is not
	// reused (it would bring the old code back).
	img, err := r.cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("start %s: image %s: %w (run Prepare first)", spec.Version, ref, runtime.ErrArtifactMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: inspect image %s: %w", spec.Version, ref, err)
	}
	hash := r.specHash(ref+"|"+img.ID, forHash)
	if inst, err := r.restart(ctx, spec.Version, hash); inst != nil || err != nil {
		return inst, err
	}
	id, err := r.create(ctx, ref, spec, env, hash)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Version, err)
	}
	inst, err := r.launch(ctx, id, spec.Version, true)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Version, err)
	}
	r.log.Info("started container", "version", spec.Version, "id", short(id), "addr", inst.Addr())
	return inst, nil
}

// restart starts the newest stopped container of version created with
// settings hash. It returns nil, nil when there is none or it would not
// start (then a new container is the way forward).
func (r *Runtime) restart(ctx context.Context, version, hash string) (runtime.Instance, error) {
	r.reuseMu.Lock()
	defer r.reuseMu.Unlock()
	id, err := r.findStopped(ctx, version, hash)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", version, err)
	}
	if id == "" {
		return nil, nil
	}
	inst, err := r.launch(ctx, id, version, false)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("start %s: %w", version, err)
		}
		r.log.Warn("could not restart stopped container; creating a new one", "version", version, "id", short(id), "err", err)
		return nil, nil
	}
	r.log.Info("restarted stopped container", "version", version, "id", short(id), "addr", inst.Addr())
	return inst, nil
}

// findStopped returns the newest stopped container of version created with
// settings hash, or "".
func (r *Runtime) findStopped(ctx context.Context, version, hash string) (string, error) {
	f := r.ownFilter(LabelService+"="+r.cfg.Service, LabelVersion+"="+version, LabelSpec+"="+hash).
		Add("status", "exited", "created")
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return "", fmt.Errorf("list stopped containers: %w", err)
	}
	if len(res.Items) == 0 {
		return "", nil
	}
	newest := slices.MaxFunc(res.Items, func(a, b container.Summary) int { return int(a.Created - b.Created) })
	return newest.ID, nil
}

// create creates (does not start) a container of spec and returns its ID.
func (r *Runtime) create(ctx context.Context, ref string, spec runtime.Spec, env []string, hash string) (string, error) {
	cfg, hc, nc := r.containerConfig(ref, env, r.labels(spec.Version, spec.ReleaseID, hash))
	cfg.Cmd = r.cfg.Command
	hc.PortBindings = nil
	if r.cfg.Reach == ReachHost {
		// Loopback only, ephemeral port: each version gets its own port and
		// nothing is reachable from outside the host.
		hc.PortBindings = network.PortMap{r.port: {{HostIP: netip.MustParseAddr("127.0.0.1")}}}
	}
	base := r.containerName(spec.Version, spec.ReleaseID)
	name := base
	for try := 2; ; try++ {
		id, err := r.createContainer(ctx, client.ContainerCreateOptions{
			Name: name, Config: cfg, HostConfig: hc, NetworkingConfig: nc,
		})
		switch {
		case err == nil:
			return id, nil
		case cerrdefs.IsConflict(err) && try < 10:
			// The same version and release already has a container (a
			// second instance): the name only needs to be unique.
			name = base + "-" + strconv.Itoa(try)
		case cerrdefs.IsNotFound(err):
			return "", fmt.Errorf("create container: image %s: %w (run Prepare first): %w", ref, runtime.ErrArtifactMissing, err)
		default:
			return "", fmt.Errorf("create container %s: %w", name, err)
		}
	}
}

// createContainer creates a container and returns its ID. The request
// itself is not cancelled with ctx: an abandoned request can still create
// the container in the engine, and nobody would know its ID to remove it.
// Once created, a container whose ctx has ended is removed again.
func (r *Runtime) createContainer(ctx context.Context, opts client.ContainerCreateOptions) (string, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	res, err := r.cli.ContainerCreate(cctx, opts)
	if err != nil {
		return "", err
	}
	if ctx.Err() != nil {
		r.removeQuietly(ctx, res.ID)
		return "", ctx.Err()
	}
	return res.ID, nil
}

// removeQuietly force-removes a container we just created, for cleanups
// that must happen even after ctx ended; a failure is only logged.
func (r *Runtime) removeQuietly(ctx context.Context, id string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := r.cli.ContainerRemove(cctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		r.log.Error("remove container", "id", short(id), "err", err)
	}
}

// containerConfig is what instances and hooks share: image, env, user,
// entrypoint, mounts, limits, network.
func (r *Runtime) containerConfig(ref string, env []string, labels map[string]string) (*container.Config, *container.HostConfig, *network.NetworkingConfig) {
	timeout := r.stopTimeout()
	cfg := &container.Config{
		Image:        ref,
		Env:          env,
		Labels:       labels,
		User:         r.cfg.User,
		Entrypoint:   r.cfg.Entrypoint,
		ExposedPorts: network.PortSet{r.port: {}},
		StopSignal:   r.cfg.StopSignal,
		StopTimeout:  &timeout,
	}
	hc := &container.HostConfig{
		Binds:       r.cfg.Volumes,
		NetworkMode: container.NetworkMode(r.cfg.Network),
		Resources: container.Resources{
			Memory:   r.cfg.Memory,
			NanoCPUs: int64(r.cfg.CPUs * 1e9),
		},
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{r.cfg.Network: {}}}
	return cfg, hc, nc
}

// launch starts container id and returns its instance. The exit watch is
// registered before the start, so even an instant crash is observed. If
// anything fails, a container we created (created=true) is removed, and one
// we only restarted is stopped again.
func (r *Runtime) launch(ctx context.Context, id, version string, created bool) (_ *instance, err error) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	wait := r.cli.ContainerWait(wctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	defer func() {
		if err == nil {
			return
		}
		cancel()
		releaseWait(wait)
		if created {
			r.removeQuietly(ctx, id)
			return
		}
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer ccancel()
		_, serr := r.cli.ContainerStop(cctx, id, client.ContainerStopOptions{Timeout: new(int)})
		if serr != nil && !cerrdefs.IsNotFound(serr) {
			r.log.Error("stop after failed restart", "id", short(id), "err", serr)
		}
	}()
	if _, err := r.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return nil, fmt.Errorf("start container %s: %w", short(id), err)
	}
	ins, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect container %s: %w", short(id), err)
	}
	addr, err := r.addrOf(ins.Container)
	if err != nil {
		return nil, err
	}
	return r.newInstance(id, version, addr, wctx, cancel, wait), nil
}

// addrOf is where the proxy dials the container (see the package doc). It
// is "" for a container that is no longer running: it has no address, and
// its instance's Done says so.
func (r *Runtime) addrOf(c container.InspectResponse) (string, error) {
	if c.State == nil || !c.State.Running {
		return "", nil
	}
	ns := c.NetworkSettings
	switch r.cfg.Reach {
	case ReachHost:
		if ns != nil {
			for _, b := range ns.Ports[r.port] {
				if b.HostPort != "" {
					return net.JoinHostPort("127.0.0.1", b.HostPort), nil
				}
			}
		}
		return "", fmt.Errorf("container %s: port %s is not published", short(c.ID), r.port)
	default:
		if ns != nil {
			if ep := ns.Networks[r.cfg.Network]; ep != nil && ep.IPAddress.IsValid() {
				return net.JoinHostPort(ep.IPAddress.String(), strconv.Itoa(r.cfg.Port)), nil
			}
		}
		return "", fmt.Errorf("container %s: no address on network %s", short(c.ID), r.cfg.Network)
	}
}

// Adopt re-attaches to a container of this service by ID (or name).
func (r *Runtime) Adopt(ctx context.Context, id string) (runtime.Instance, error) {
	if id == "" {
		return nil, fmt.Errorf("adopt: empty container ID: %w", runtime.ErrNotFound)
	}
	ins, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("adopt %s: %w", short(id), runtime.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("adopt %s: %w", short(id), err)
	}
	c := ins.Container
	if c.Config == nil || c.Config.Labels[LabelService] != r.cfg.Service {
		return nil, fmt.Errorf("adopt %s: not a container of service %s: %w", short(id), r.cfg.Service, runtime.ErrNotFound)
	}
	// A container of another state directory's daemon is never ours, even
	// with the same service name. One without an owner label predates
	// owner labels; it is adopted only by the ID our own record holds.
	if o, ok := c.Config.Labels[LabelOwner]; ok && o != r.cfg.Owner {
		return nil, fmt.Errorf("adopt %s: container belongs to another hotswap daemon (owner %s): %w", short(id), o, runtime.ErrNotFound)
	}
	version := c.Config.Labels[LabelVersion]
	if c.State == nil || !c.State.Running {
		return r.stoppedInstance(c.ID, version, c.State), nil
	}
	addr, err := r.addrOf(c)
	if err != nil {
		return nil, fmt.Errorf("adopt %s: %w", short(id), err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	wait := r.cli.ContainerWait(wctx, c.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	return r.newInstance(c.ID, version, addr, wctx, cancel, wait), nil
}

// List returns the IDs of this service's containers in any state that this
// state directory's daemon created (owner label), hook containers excluded.
func (r *Runtime) List(ctx context.Context) ([]string, error) {
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: r.ownFilter(LabelService + "=" + r.cfg.Service),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers of %s: %w", r.cfg.Service, err)
	}
	ids := make([]string, 0, len(res.Items))
	for _, c := range res.Items {
		ids = append(ids, c.ID)
	}
	return ids, nil
}

// short is the 12-character form of a container ID used in messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
