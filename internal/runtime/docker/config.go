package docker

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
)

// Reach says how hotswap's proxy reaches a container; see the package doc.
type Reach string

// The ways to reach a container.
const (
	ReachAuto    Reach = "auto"    // "network" inside a container, else "host"
	ReachHost    Reach = "host"    // published on 127.0.0.1:<ephemeral>
	ReachNetwork Reach = "network" // container IP on Config.Network
)

// PullPolicy says when Prepare pulls an image.
type PullPolicy string

// The pull policies.
const (
	// PullAuto (the default) is PullAlways for a tag listed in
	// Config.MutableTags ("latest" unless configured) and PullMissing for
	// every other tag and for digests.
	PullAuto PullPolicy = "auto"
	// PullMissing pulls only when the image is not present locally: tags
	// are treated as immutable, so a present tag is never fetched again.
	PullMissing PullPolicy = "missing"
	// PullAlways pulls on every Prepare so a moved tag is picked up; the
	// local image is used only if the registry cannot be reached.
	PullAlways PullPolicy = "always"
	// PullNever uses local images only (images loaded or built on the host).
	PullNever PullPolicy = "never"
)

// Auth is a registry login. The password is never logged.
type Auth struct {
	Username string
	Password string
}

// Config is the service-wide part of every container of one service. It
// comes from the user's config file; zero values mean the defaults below.
type Config struct {
	// Service names the service; it is part of container names and labels.
	// Required.
	Service string
	// Owner is the owner ID of the daemon's state directory
	// (statedir.Owner), set on every container as LabelOwner. The runtime
	// lists, adopts and removes only containers carrying it. Required.
	Owner string
	// Image is the repository without tag or digest, e.g. "ghcr.io/acme/web".
	// The version is appended as ":<tag>" or "@<digest>". Required.
	Image string
	// Port is the TCP port the app listens on inside the container. Default
	// 3000. It is also given to the app as env PORT.
	Port int
	// Env is environment for every container, on top of EnvFiles and below
	// the per-start Spec.Env and hotswap's own HOTSWAP_* and PORT.
	Env map[string]string
	// EnvFiles are files of KEY=VALUE lines ("#" comments, blank lines and
	// an "export " prefix allowed; one level of matching quotes stripped),
	// read at every Start and RunHook so an edited file applies to the next
	// deploy. Later files win.
	EnvFiles []string
	// Volumes are mounts in Docker's short syntax: "name:/path[:ro]" for a
	// named volume, "/host/path:/path[:ro]" for a bind mount.
	Volumes []string
	// Command replaces the image's CMD when set.
	Command []string
	// Entrypoint replaces the image's ENTRYPOINT when set. As in Docker,
	// that also drops the image's CMD unless Command is set too.
	Entrypoint []string
	// User runs the app as "user", "uid" or "uid:gid" instead of the image's.
	User string
	// Memory is the memory limit in bytes; 0 means unlimited. An app that
	// exceeds it is OOM-killed, which Exit reports.
	Memory int64
	// CPUs is the CPU limit in cores (1.5 = one and a half); 0 = unlimited.
	CPUs float64
	// StopSignal is the signal Stop sends first. Default "SIGTERM".
	StopSignal string
	// StopGrace is how long Stop waits after StopSignal before the engine
	// sends SIGKILL. Default 10s; rounded up to whole seconds (the engine's
	// unit).
	StopGrace time.Duration
	// Labels are extra container labels; hotswap's io.hotswap.* labels win.
	Labels map[string]string
	// Network is the user-defined bridge network every container joins,
	// created if missing. Default "hotswap".
	Network string
	// Reach is how the proxy reaches containers: "host", "network" or
	// "auto" (default). See the package doc.
	Reach Reach
	// RegistryAuth logs in to the image's registry. When nil, credentials
	// come from the Docker config file's "auths" entry for that registry
	// (see DockerConfig); when none is found the pull is anonymous.
	RegistryAuth *Auth
	// DockerConfig is the Docker CLI config file consulted for registry
	// credentials. Default $DOCKER_CONFIG/config.json, else
	// ~/.docker/config.json. Credential helpers (credsStore) are not run.
	DockerConfig string
	// PullPolicy is when Prepare pulls: "auto" (default), "missing",
	// "always" or "never".
	PullPolicy PullPolicy
	// MutableTags are the tags a registry push moves (pulled on every
	// deploy under PullAuto). Default ["latest"].
	MutableTags []string
}

// pullPolicy is the policy for one version: the configured one, or under
// PullAuto, always for a mutable tag and missing otherwise.
func (c Config) pullPolicy(version string) PullPolicy {
	if c.PullPolicy != PullAuto {
		return c.PullPolicy
	}
	if slices.Contains(c.MutableTags, version) {
		return PullAlways
	}
	return PullMissing
}

// dockerEnvFile exists in every container Docker starts; hotswap uses it to
// tell whether it runs inside one (Reach "auto"). A variable for tests.
var dockerEnvFile = "/.dockerenv"

// withDefaults validates c and fills in the defaults, so the rest of the
// package never looks at a zero value.
func (c Config) withDefaults() (Config, error) {
	if c.Service == "" {
		return c, fmt.Errorf("docker runtime: service name is required")
	}
	if sanitize(c.Service) != c.Service {
		return c, fmt.Errorf("docker runtime %s: service name may contain only letters, digits, '.', '_' and '-'", c.Service)
	}
	if c.Owner == "" {
		return c, fmt.Errorf("docker runtime %s: owner is required (the state directory's owner ID)", c.Service)
	}
	if c.Image == "" {
		return c, fmt.Errorf("docker runtime %s: image is required", c.Service)
	}
	named, err := reference.ParseNormalizedNamed(c.Image)
	if err != nil {
		return c, fmt.Errorf("docker runtime %s: image %q: %w", c.Service, c.Image, err)
	}
	if _, ok := named.(reference.Tagged); ok {
		return c, fmt.Errorf("docker runtime %s: image %q must not carry a tag: the version is the tag", c.Service, c.Image)
	}
	if _, ok := named.(reference.Digested); ok {
		return c, fmt.Errorf("docker runtime %s: image %q must not carry a digest: the version is the digest", c.Service, c.Image)
	}
	if c.Port == 0 {
		c.Port = 3000
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, fmt.Errorf("docker runtime %s: port %d out of range", c.Service, c.Port)
	}
	if c.StopSignal == "" {
		c.StopSignal = "SIGTERM"
	}
	if c.StopGrace == 0 {
		c.StopGrace = 10 * time.Second
	}
	if c.StopGrace < 0 {
		return c, fmt.Errorf("docker runtime %s: negative stop grace %v", c.Service, c.StopGrace)
	}
	if c.Memory < 0 || c.CPUs < 0 {
		return c, fmt.Errorf("docker runtime %s: negative memory or CPU limit", c.Service)
	}
	if c.Network == "" {
		c.Network = "hotswap"
	}
	switch c.Reach {
	case "", ReachAuto:
		c.Reach = ReachHost
		if _, err := os.Stat(dockerEnvFile); err == nil {
			c.Reach = ReachNetwork
		}
	case ReachHost, ReachNetwork:
	default:
		return c, fmt.Errorf("docker runtime %s: reach %q: want host, network or auto", c.Service, c.Reach)
	}
	switch c.PullPolicy {
	case "":
		c.PullPolicy = PullAuto
	case PullAuto, PullMissing, PullAlways, PullNever:
	default:
		return c, fmt.Errorf("docker runtime %s: pull policy %q: want auto, missing, always or never", c.Service, c.PullPolicy)
	}
	if c.MutableTags == nil {
		c.MutableTags = []string{"latest"}
	}
	for _, v := range c.Volumes {
		if err := checkVolume(v); err != nil {
			return c, fmt.Errorf("docker runtime %s: volume %q: %w", c.Service, v, err)
		}
	}
	return c, nil
}

// checkVolume accepts Docker's short mount syntax, so that a typo fails at
// config time instead of at the first deploy.
func checkVolume(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("want source:/path[:ro]")
	}
	if parts[0] == "" {
		return fmt.Errorf("empty source")
	}
	if !path.IsAbs(parts[1]) {
		return fmt.Errorf("container path %q is not absolute", parts[1])
	}
	if len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw" {
		return fmt.Errorf("mode %q: want ro or rw", parts[2])
	}
	return nil
}
