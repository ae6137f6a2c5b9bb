package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/moby/moby/client"
)

// Labels hotswap sets on what it creates. Everything is found again by
// them, never by name.
const (
	LabelManaged = "io.hotswap.managed" // "true" on every container and network hotswap creates
	LabelService = "io.hotswap.service" // the service an instance belongs to
	LabelVersion = "io.hotswap.version" // the version (tag or @digest) it runs
	LabelRelease = "io.hotswap.release" // the release ID it was created for
	LabelSpec    = "io.hotswap.spec"    // hash of the settings it was created with
	LabelHook    = "io.hotswap.hook"    // the service, on one-off hook containers
	// LabelOwner is the owner ID of the state directory whose daemon created
	// the container (statedir.Owner). Two daemons on one host may run
	// services of the same name; each touches only containers with its own.
	LabelOwner = "io.hotswap.owner"
)

var (
	tagRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestRE = regexp.MustCompile(`^@?([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-fA-F0-9]{32,})$`)
	unsafeRE = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)
)

// imageRef turns a version into the reference to pull and run: a tag
// ("v2" → "repo:v2") or a digest ("@sha256:…" or "sha256:…" →
// "repo@sha256:…").
func (r *Runtime) imageRef(version string) (string, error) {
	return ImageRef(r.cfg.Image, version)
}

// ImageRef is the reference of version in repository image: a tag ("v2" →
// "image:v2") or a digest ("@sha256:…" or "sha256:…" → "image@sha256:…").
// Other runtimes that run images (Swarm) share it, so a version means the
// same image everywhere.
func ImageRef(image, version string) (string, error) {
	if m := digestRE.FindStringSubmatch(version); m != nil {
		return image + "@" + m[1] + ":" + strings.ToLower(m[2]), nil
	}
	if tagRE.MatchString(version) {
		return image + ":" + version, nil
	}
	return "", fmt.Errorf("version %q is neither an image tag nor a digest", version)
}

// sanitize makes s usable in a container name ([A-Za-z0-9][A-Za-z0-9_.-]*).
func sanitize(s string) string {
	s = unsafeRE.ReplaceAllString(s, "-")
	s = strings.TrimLeft(s, "_.-")
	return s
}

// containerName is "hotswap-<service>-<version>-<release>", readable in
// `docker ps`.
func (r *Runtime) containerName(version string, release int64) string {
	return "hotswap-" + r.cfg.Service + "-" + versionSlug(version) + "-" + strconv.FormatInt(release, 10)
}

// versionSlug is version as it appears in container names: sanitised, at
// most 64 characters, a digest shortened to its first 12 hex digits.
func versionSlug(version string) string {
	v := version
	if m := digestRE.FindStringSubmatch(version); m != nil {
		v = m[1] + "-" + strings.ToLower(m[2])[:12]
	}
	v = sanitize(v)
	if len(v) > 64 {
		v = v[:64]
	}
	return v
}

// labels are the labels of an instance container: the user's, then ours.
func (r *Runtime) labels(version string, release int64, spec string) map[string]string {
	l := make(map[string]string, len(r.cfg.Labels)+5)
	for k, v := range r.cfg.Labels {
		l[k] = v
	}
	l[LabelManaged] = "true"
	l[LabelOwner] = r.cfg.Owner
	l[LabelService] = r.cfg.Service
	l[LabelVersion] = version
	l[LabelRelease] = strconv.FormatInt(release, 10)
	l[LabelSpec] = spec
	return l
}

// specHash fingerprints everything that shapes a container of version
// (ref includes the image ID the reference resolved to) except its
// release ID, so Start reuses a stopped container only when it
// would create an identical one (same env, limits, mounts, command…).
func (r *Runtime) specHash(ref string, env []string) string {
	c := r.cfg
	fp := struct {
		Ref                   string
		Env                   []string
		Cmd, Entrypoint, Vols []string
		User                  string
		Memory                int64
		CPUs                  float64
		StopSignal            string
		StopGrace             int
		Labels                map[string]string
		Network               string
		Reach                 Reach
		Port                  int
	}{ref, env, c.Command, c.Entrypoint, c.Volumes, c.User, c.Memory, c.CPUs,
		c.StopSignal, r.stopTimeout(), c.Labels, c.Network, c.Reach, c.Port}
	b, _ := json.Marshal(fp) // plain data: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// ownFilter selects this runtime's containers: managed by hotswap, created
// by this state directory's daemon, of this service (instances), plus the
// extra label conditions given.
func (r *Runtime) ownFilter(extra ...string) client.Filters {
	return make(client.Filters).Add("label",
		append([]string{LabelManaged + "=true", LabelOwner + "=" + r.cfg.Owner}, extra...)...)
}
