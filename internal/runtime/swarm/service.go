package swarm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strconv"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/hotswap/hotswap/internal/runtime"
)

// Labels on every Swarm service hotswap creates; everything is found again
// by them, never by name.
const (
	LabelManaged = "io.hotswap.managed" // "true"
	LabelService = "io.hotswap.service" // the hotswap service
	LabelVersion = "io.hotswap.version" // the version (tag or digest) asked for
	LabelRelease = "io.hotswap.release" // the release ID it was created for
	LabelOwner   = "io.hotswap.owner"   // Config.Owner
	LabelSpec    = "io.hotswap.spec"    // hash of everything that shapes it
	LabelImage   = "io.hotswap.image"   // the pinned image it runs
	LabelHook    = "io.hotswap.hook"    // the service, on one-off hook services
)

// serviceName is "hs-<service>-r<release>", readable in `docker service ls`.
func (r *Runtime) serviceName(release int64) string {
	return "hs-" + r.cfg.Service + "-r" + strconv.FormatInt(release, 10)
}

// env is the task environment: the service's, the start's, then ours.
func (r *Runtime) env(spec runtime.Spec) []string {
	m := maps.Clone(r.cfg.Env)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, spec.Env)
	m["PORT"] = strconv.Itoa(r.cfg.Port)
	m["HOTSWAP_SERVICE"] = r.cfg.Service
	m["HOTSWAP_VERSION"] = spec.Version
	m["HOTSWAP_RELEASE"] = strconv.FormatInt(spec.ReleaseID, 10)
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}

// specHash fingerprints everything that shapes a release's service except
// the release ID itself, so Start scales a stopped service up again only
// when it would create an identical one.
func (r *Runtime) specHash(image string, env []string) string {
	c := r.cfg
	fp := struct {
		Image, StopSignal string
		Env, Command      []string
		Port              int
		Replicas, PerNode uint64
		StopGrace         int64
		Restart           uint64
		Labels            map[string]string
	}{image, c.StopSignal, env, c.Command, c.Port, c.Replicas, c.MaxPerNode, int64(c.StopGrace), c.RestartAttempts, c.Labels}
	b, _ := json.Marshal(fp) // plain data: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// serviceSpec is the Swarm service of one release: pinned image, host-mode
// published port on an ephemeral host port, restart policy, labels.
func (r *Runtime) serviceSpec(name, image string, spec runtime.Spec) swarm.ServiceSpec {
	env := r.env(spec)
	labels := maps.Clone(r.cfg.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelManaged] = "true"
	labels[LabelService] = r.cfg.Service
	labels[LabelVersion] = spec.Version
	labels[LabelRelease] = strconv.FormatInt(spec.ReleaseID, 10)
	labels[LabelSpec] = r.specHash(image, env)
	labels[LabelImage] = image
	if r.cfg.Owner != "" {
		labels[LabelOwner] = r.cfg.Owner
	}
	replicas := r.cfg.Replicas
	grace := r.cfg.StopGrace
	restart := &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
	if n := r.cfg.RestartAttempts; n > 0 {
		restart = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: &n}
	}
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: labels},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:           image,
				Args:            r.cfg.Command,
				Env:             env,
				Labels:          map[string]string{LabelService: r.cfg.Service, LabelVersion: spec.Version},
				StopSignal:      r.cfg.StopSignal,
				StopGracePeriod: &grace,
			},
			RestartPolicy: restart,
			Placement:     &swarm.Placement{MaxReplicas: r.cfg.MaxPerNode},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{
			Protocol:    network.TCP,
			TargetPort:  uint32(r.cfg.Port),
			PublishMode: swarm.PortConfigPublishModeHost,
		}}},
	}
}
