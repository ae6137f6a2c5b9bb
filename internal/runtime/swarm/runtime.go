package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/runtime"
	"github.com/hotswap/hotswap/internal/runtime/docker"
)

var _ runtime.Runtime = (*Runtime)(nil)

// Runtime runs the releases of one service as Swarm services. Like the
// Docker runtime it keeps no record of its own: the manager's service list
// (labels) is the source of truth, so it survives daemon restarts. It is
// safe for concurrent use.
type Runtime struct {
	cli *client.Client // a manager's engine; shared, safe for concurrent use
	cfg Config         // validated, defaults applied; read-only
	log *slog.Logger

	// scaleMu serialises finding and scaling up a stopped service, so two
	// concurrent Starts of one version never claim the same one.
	scaleMu sync.Mutex

	// nodesMu guards nodeAddrs, node ID → address, filled on demand.
	nodesMu   sync.Mutex
	nodeAddrs map[string]node
}

// node is what endpoints and errors need of a Swarm node.
type node struct{ addr, hostname string }

// New validates cfg. cli must reach a manager and should have negotiated
// its API version. log may be nil.
func New(cli *client.Client, cfg Config, log *slog.Logger) (*Runtime, error) {
	if cli == nil {
		return nil, errors.New("swarm runtime: nil client")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Runtime{cli: cli, cfg: cfg, log: log.With("runtime", "swarm", "service", cfg.Service), nodeAddrs: map[string]node{}}, nil
}

// Prepare pins version to a digest without changing anything: the image as
// the manager's engine knows it (its repo digest from a registry, else its
// image ID, which is the same on every node it was loaded on), or as the
// registry reports it. Nodes pull by that digest when they need to. It does
// not pull: a missing image is ErrArtifactMissing here, and an image
// missing on one node is caught when that node rejects its task.
func (r *Runtime) Prepare(ctx context.Context, version string, out io.Writer) (runtime.Artifact, error) {
	ref, err := docker.ImageRef(r.cfg.Image, version)
	if err != nil {
		return runtime.Artifact{}, fmt.Errorf("prepare %s: %w", version, err)
	}
	pinned, err := r.pin(ctx, ref)
	if err != nil {
		return runtime.Artifact{}, fmt.Errorf("prepare %s: %w", version, err)
	}
	fmt.Fprintf(out, "%s pinned as %s\n", ref, pinned)
	digest := pinned
	if i := strings.LastIndex(pinned, "@"); i >= 0 {
		digest = pinned[i+1:]
	}
	return runtime.Artifact{Ref: ref, Digest: digest}, nil
}

// pin resolves ref to an immutable image reference (see Prepare).
func (r *Runtime) pin(ctx context.Context, ref string) (string, error) {
	ins, err := r.cli.ImageInspect(ctx, ref)
	if err == nil {
		for _, rd := range ins.RepoDigests {
			if strings.HasPrefix(rd, r.cfg.Image+"@") {
				return rd, nil
			}
		}
		return ins.ID, nil
	}
	if !notFound(err) {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	// A digest that is an image ID (an image loaded on the nodes, pinned by
	// an earlier Prepare) is found by the ID alone.
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		if ins, err := r.cli.ImageInspect(ctx, ref[i+1:]); err == nil && ins.ID == ref[i+1:] {
			return ins.ID, nil
		}
	}
	dist, derr := r.cli.DistributionInspect(ctx, ref, client.DistributionInspectOptions{})
	if derr != nil {
		return "", fmt.Errorf("image %s: %w: not on the manager and the registry says: %v", ref, runtime.ErrArtifactMissing, derr)
	}
	return r.cfg.Image + "@" + dist.Descriptor.Digest.String(), nil
}

// Start runs spec as a release service and returns once every replica is
// running with its published port known, or every task has ended on its
// own (a crash at boot: the instance's Done is then closed). A task that a
// node rejects, or that ends while others run (healthy on one node,
// crashing on another), fails Start naming the node, and the service is
// removed; an image missing on a node is ErrArtifactMissing. A stopped service of the
// same version and settings is scaled up again instead of creating one.
func (r *Runtime) Start(ctx context.Context, spec runtime.Spec) (runtime.Instance, error) {
	ref, err := docker.ImageRef(r.cfg.Image, spec.Version)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Version, err)
	}
	image, err := r.pin(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Version, err)
	}
	svcSpec := r.serviceSpec(r.serviceName(spec.ReleaseID), image, spec)
	id, old, err := r.scaleUpStopped(ctx, spec.Version, svcSpec.Labels[LabelSpec])
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Version, err)
	}
	created := id == ""
	if created {
		id, err = r.create(ctx, svcSpec)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", spec.Version, err)
		}
	}
	inst := r.newInstance(id, spec.Version)
	inst.old = old
	if err := inst.waitLaunched(ctx); err != nil {
		if created {
			r.removeQuietly(ctx, id)
		} else {
			_ = inst.scale(context.WithoutCancel(ctx), 0)
		}
		inst.cancel()
		return nil, fmt.Errorf("start %s: %w", spec.Version, err)
	}
	r.log.Info("started release service", "version", spec.Version, "id", id, "endpoints", inst.Endpoints())
	return inst, nil
}

// create creates the service, taking "<name>-2"… when a service of that
// release exists already (a second instance of one release).
func (r *Runtime) create(ctx context.Context, spec swarm.ServiceSpec) (string, error) {
	base := spec.Name
	for try := 2; ; try++ {
		res, err := r.cli.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec})
		switch {
		case err == nil:
			return res.ID, nil
		case (cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "already exists")) && try < 10:
			spec.Name = base + "-" + strconv.Itoa(try)
		default:
			return "", fmt.Errorf("create service %s: %w", spec.Name, err)
		}
	}
}

// scaleUpStopped finds a service of version with settings hash scaled to 0
// and scales it back up, returning its ID and the tasks it had before (they
// are history, not the new instance); "" when there is none.
func (r *Runtime) scaleUpStopped(ctx context.Context, version, hash string) (string, map[string]bool, error) {
	r.scaleMu.Lock()
	defer r.scaleMu.Unlock()
	res, err := r.cli.ServiceList(ctx, client.ServiceListOptions{Filters: make(client.Filters).
		Add("label", LabelService+"="+r.cfg.Service, LabelVersion+"="+version, LabelSpec+"="+hash)})
	if err != nil {
		return "", nil, fmt.Errorf("list services: %w", err)
	}
	for _, s := range res.Items {
		if rep := s.Spec.Mode.Replicated; rep == nil || rep.Replicas == nil || *rep.Replicas != 0 {
			continue
		}
		inst := &instance{rt: r, id: s.ID}
		if err := inst.awaitPurged(ctx); err != nil {
			return "", nil, err
		}
		tasks, err := r.cli.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", s.ID)})
		if err != nil {
			return "", nil, fmt.Errorf("tasks of %s: %w", s.ID, err)
		}
		old := make(map[string]bool, len(tasks.Items))
		for _, t := range tasks.Items {
			old[t.ID] = true
		}
		if err := inst.scale(ctx, r.cfg.Replicas); err != nil {
			return "", nil, err
		}
		r.log.Info("scaled stopped release service up", "version", version, "id", s.ID)
		return s.ID, old, nil
	}
	return "", nil, nil
}

// Adopt re-attaches to a release service by ID. A service scaled to 0 is an
// instance whose Done is closed.
func (r *Runtime) Adopt(ctx context.Context, id string) (runtime.Instance, error) {
	if id == "" {
		return nil, fmt.Errorf("adopt: empty service ID: %w", runtime.ErrNotFound)
	}
	res, err := r.cli.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if notFound(err) {
		return nil, fmt.Errorf("adopt %s: %w", id, runtime.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("adopt %s: %w", id, err)
	}
	s := res.Service
	if s.Spec.Labels[LabelService] != r.cfg.Service || s.Spec.Labels[LabelHook] != "" {
		return nil, fmt.Errorf("adopt %s: not a release service of %s: %w", id, r.cfg.Service, runtime.ErrNotFound)
	}
	// Adopt takes the service as it is now: it does not wait for every
	// replica (a node may be down), only reads the tasks once.
	inst := r.newInstance(s.ID, s.Spec.Labels[LabelVersion])
	v, err := inst.observe(ctx)
	if err != nil {
		return nil, fmt.Errorf("adopt %s: %w", id, err)
	}
	if v.gone {
		return nil, fmt.Errorf("adopt %s: %w", id, runtime.ErrNotFound)
	}
	if !inst.apply(v) {
		go inst.watch()
	}
	return inst, nil
}

// List returns the IDs of every release service of this service, running
// or scaled to 0.
func (r *Runtime) List(ctx context.Context) ([]string, error) {
	res, err := r.cli.ServiceList(ctx, client.ServiceListOptions{Filters: make(client.Filters).
		Add("label", LabelService+"="+r.cfg.Service, LabelManaged+"=true")})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	ids := []string{}
	for _, s := range res.Items {
		if s.Spec.Labels[LabelHook] == "" {
			ids = append(ids, s.ID)
		}
	}
	return ids, nil
}

// removeQuietly removes a service we created, even after ctx ended; a
// failure is only logged.
func (r *Runtime) removeQuietly(ctx context.Context, id string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := r.cli.ServiceRemove(cctx, id, client.ServiceRemoveOptions{}); err != nil && !notFound(err) {
		r.log.Error("remove service", "id", id, "err", err)
	}
}

// nodeOf returns the address and hostname of a Swarm node, cached.
func (r *Runtime) nodeOf(ctx context.Context, id string) (node, error) {
	r.nodesMu.Lock()
	n, ok := r.nodeAddrs[id]
	r.nodesMu.Unlock()
	if ok {
		return n, nil
	}
	res, err := r.cli.NodeInspect(ctx, id, client.NodeInspectOptions{})
	if err != nil {
		return node{}, fmt.Errorf("inspect node %s: %w", id, err)
	}
	n = node{addr: res.Node.Status.Addr, hostname: res.Node.Description.Hostname}
	r.nodesMu.Lock()
	r.nodeAddrs[id] = n
	r.nodesMu.Unlock()
	return n, nil
}

// notFound reports a missing object. Engines before API 1.44 answer some
// swarm lookups ("service … not found") without the 404 the client maps.
func notFound(err error) bool {
	return err != nil && (cerrdefs.IsNotFound(err) || strings.Contains(err.Error(), "not found"))
}

// nodeUp reports whether Swarm sees node id as ready (unknown counts as
// up: only a node known to be down is not waited for).
func (r *Runtime) nodeUp(ctx context.Context, id string) bool {
	if id == "" {
		return true
	}
	res, err := r.cli.NodeInspect(ctx, id, client.NodeInspectOptions{})
	if err != nil {
		return !notFound(err)
	}
	return res.Node.Status.State != swarm.NodeStateDown
}
