// Package swarm runs each release of a service as a Docker Swarm service
// of its own, through the Engine API of a manager node
// (github.com/moby/moby/client).
//
// # One Swarm service per release
//
// A release becomes "hs-<service>-r<release>", replicated Config.Replicas
// times, its image pinned by digest (a registry's repo digest, or the image
// ID when the image was loaded on the nodes), labelled io.hotswap.managed,
// .service, .version, .release, .owner and .spec. Swarm's own rolling
// `service update` is never used: it keeps one previous spec, mixes
// versions during start-first and keeps nothing warm. Here the previous
// release's service simply stays up (rollback = a switch), is scaled to 0
// by Stop (rollback = scale up, no pull: Start finds it by its labels), and
// goes for good with Remove.
//
// # How traffic reaches a task
//
// The app's port is published in host mode with no fixed host port: each
// task gets an ephemeral port on the node that runs it, which Swarm reports
// in the task's port status. An instance therefore has several endpoints,
// "<node address>:<port>", one per running task (runtime.Endpointer); the
// edge proxy on each node gets them from the leader. Swarm's routing mesh
// (ingress, IPVS) is not used.
//
// # Failures before traffic
//
// A task that a node rejects (no such image there, no resources) fails
// Start with the node named, and the service is removed again: a version
// that cannot run everywhere never gets an address. An image missing on a
// node is runtime.ErrArtifactMissing.
package swarm

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Config is the service-wide part of every release's Swarm service.
type Config struct {
	// Service names the service; part of Swarm service names and labels.
	// Required; letters, digits, "-" and "_", at most 40 characters.
	Service string
	// Image is the repository without tag or digest ("ghcr.io/acme/web").
	// A version is appended as ":<tag>" or "@<digest>". Required.
	Image string
	// Port is the TCP port the app listens on inside the container, also
	// given to it as env PORT. Default 3000.
	Port int
	// Replicas is the number of tasks of each release. Default 1.
	Replicas uint64
	// MaxPerNode caps the tasks of one release on one node (Swarm's
	// max-replicas placement); 0 = no cap. With Replicas equal to the node
	// count and MaxPerNode 1, every node serves every release.
	MaxPerNode uint64
	// Env is environment for every task; the per-start Spec.Env wins over
	// it, hotswap's HOTSWAP_* and PORT win over both.
	Env map[string]string
	// Command replaces the image's CMD when set.
	Command []string
	// StopSignal is the signal a task gets first when scaled down or
	// removed. Default: the image's (SIGTERM).
	StopSignal string
	// StopGrace is how long Swarm waits after StopSignal before SIGKILL.
	// Default 10s.
	StopGrace time.Duration
	// RestartAttempts is how many times Swarm restarts a task that exits
	// with an error before giving up (the instance is then done). Default 0:
	// never, so a crash is reported to hotswap at once.
	RestartAttempts uint64
	// Owner is the value of the io.hotswap.owner label: which hotswap
	// daemon (state directory) owns these services. Optional.
	Owner string
	// Labels are extra service labels; hotswap's io.hotswap.* labels win.
	Labels map[string]string
	// PollInterval is how often an instance reads its tasks from the
	// manager. Default 250ms.
	PollInterval time.Duration
}

var serviceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$`)

// withDefaults validates c and fills in the defaults.
func (c Config) withDefaults() (Config, error) {
	if !serviceRE.MatchString(c.Service) {
		return c, fmt.Errorf("swarm runtime: service %q: want letters, digits, '-' or '_', at most 40", c.Service)
	}
	if c.Image == "" {
		return c, errors.New("swarm runtime: image is required")
	}
	if c.Port == 0 {
		c.Port = 3000
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, fmt.Errorf("swarm runtime: port %d out of range", c.Port)
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.StopGrace == 0 {
		c.StopGrace = 10 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	return c, nil
}
