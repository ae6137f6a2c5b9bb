package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/deploy"
	"github.com/hotswap/hotswap/internal/health"
	"github.com/hotswap/hotswap/internal/proxy"
	rt "github.com/hotswap/hotswap/internal/runtime"
	"github.com/hotswap/hotswap/internal/runtime/docker"
	"github.com/hotswap/hotswap/internal/runtime/process"
	"github.com/hotswap/hotswap/internal/version"
)

// buildServices turns each configured service into the engine's spec with
// its runtime.
func (d *Daemon) buildServices(ctx context.Context) ([]deploy.ServiceSpec, error) {
	specs := make([]deploy.ServiceSpec, 0, len(d.cfg.Services))
	for i := range d.cfg.Services {
		sp, err := d.buildService(ctx, &d.cfg.Services[i])
		if err != nil {
			return nil, err
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

// buildService builds one service's runtime and engine spec. The Docker
// client is created once, only if a service needs it. A runtime is closed
// with the daemon, never before: instances it started may still serve.
func (d *Daemon) buildService(ctx context.Context, sc *config.Service) (deploy.ServiceSpec, error) {
	vv, err := version.Compile(sc.VersionPattern)
	if err != nil {
		return deploy.ServiceSpec{}, fmt.Errorf("service %s: %w", sc.Name, err)
	}
	var r rt.Runtime
	switch sc.Runtime {
	case config.RuntimeProcess:
		r, err = process.New(process.Config{
			Service: sc.Name, Command: sc.Process.Command, Dir: sc.Process.Dir, Env: sc.Env,
			StopGrace: sc.StopGrace, LogDir: filepath.Join(d.cfg.StateDir, "logs", sc.Name),
			LogMaxSize: int64(sc.Process.LogMaxSize), LogKeep: sc.Process.LogKeep,
		}, d.log)
	case config.RuntimeDocker:
		if d.dc == nil {
			d.dc, err = dockerClient(ctx)
			if err != nil {
				return deploy.ServiceSpec{}, fmt.Errorf("service %s: %w", sc.Name, err)
			}
			d.closer = append(d.closer, d.dc.Close)
		}
		r, err = docker.New(ctx, d.dc, dockerConfig(sc, d.owner), d.log)
	default:
		err = fmt.Errorf("unknown runtime %q", sc.Runtime)
	}
	if err != nil {
		return deploy.ServiceSpec{}, fmt.Errorf("service %s: runtime: %w", sc.Name, err)
	}
	if h, ok := r.(hookSweeper); ok {
		d.sweepers = append(d.sweepers, h)
	}
	if c, ok := r.(interface{ Close() error }); ok {
		d.closer = append(d.closer, c.Close)
	}
	d.versions[sc.Name] = vv
	keep := 0 // the engine's default
	if sc.Docker != nil {
		keep = sc.Docker.KeepImages
	}
	return deploy.ServiceSpec{
		Name: sc.Name, Hosts: sc.Hosts, PathPrefix: sc.PathPrefix, Runtime: r, Versions: vv,
		Health:       healthCheck(sc.Health),
		DrainTimeout: sc.DrainTimeout, WarmFor: sc.WarmFor,
		Hooks: argvs(sc.Hooks.PreTraffic), HookTimeout: sc.Hooks.Timeout,
		KeepReleases: keep,
		Proxy: proxy.ServiceOptions{PreviewHeader: sc.Preview.Header, PreviewCookie: sc.Preview.Cookie,
			PreviewValue: sc.Preview.Secret.Value(), StickyCookie: stickyCookie(sc)},
		Progressive: progressive(sc),
		Fingerprint: fingerprint(sc),
	}, nil
}

// fingerprint identifies what defines a service's instances: runtime,
// command, env, image settings, resources, stop grace and health check. An
// instance started under another fingerprint is re-adopted as it is after a
// restart and replaced by a health-gated release of kind config. Secrets
// enter only through their redacted text (a changed registry password
// alone does not make a config release).
func fingerprint(sc *config.Service) string {
	b, _ := json.Marshal(struct {
		Runtime   config.RuntimeKind
		Env       map[string]string
		Process   *config.Process
		Docker    *config.Docker
		Health    config.Health
		StopGrace time.Duration
	}{sc.Runtime, sc.Env, sc.Process, sc.Docker, sc.Health, sc.StopGrace})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// progressive maps the canary and analysis settings to the engine's.
func progressive(sc *config.Service) deploy.Progressive {
	p := deploy.Progressive{Strategy: string(sc.Strategy)}
	if sc.Canary != nil {
		for _, st := range sc.Canary.Steps {
			p.Steps = append(p.Steps, deploy.Step{Percent: float64(st.Weight), Duration: st.Duration})
		}
		p.ApprovalBeforeLast = sc.Canary.ApprovalBeforeLast
	}
	if a := sc.Analysis; a != nil {
		p.Analysis = &deploy.Analysis{Interval: a.Interval, MinRequests: uint64(a.MinRequests), MaxErrorRate: a.MaxErrorRate,
			MaxErrorRateDelta: a.MaxErrorRateDelta, MaxP95: a.MaxP95, Bake: a.Bake}
	}
	return p
}

func stickyCookie(sc *config.Service) string {
	if sc.Canary != nil && sc.Canary.StickyCookie != "" {
		return sc.Canary.StickyCookie
	}
	return "hotswap_canary"
}

func argvs(in []config.Argv) [][]string {
	out := make([][]string, len(in))
	for i, a := range in {
		out[i] = []string(a)
	}
	return out
}

func dockerConfig(sc *config.Service, owner string) docker.Config {
	dk := sc.Docker
	c := docker.Config{
		Service: sc.Name, Owner: owner, Image: dk.Image, Port: dk.Port, Env: sc.Env, EnvFiles: dk.EnvFiles, Volumes: dk.Volumes,
		Command: dk.Command, Entrypoint: dk.Entrypoint, User: dk.User, Memory: int64(dk.Memory), CPUs: dk.CPUs,
		StopSignal: dk.StopSignal, StopGrace: sc.StopGrace, Labels: dk.Labels, Network: dk.Network,
		Reach: docker.Reach(dk.Reach), PullPolicy: docker.PullPolicy(dk.Pull), MutableTags: dk.MutableTags,
	}
	if dk.RegistryAuth != nil {
		c.RegistryAuth = &docker.Auth{Username: dk.RegistryAuth.Username, Password: dk.RegistryAuth.Password.Value()}
	}
	return c
}

// dockerClient connects to the engine named by the environment (DOCKER_HOST
// or the default socket) and negotiates the API version with it.
func dockerClient(ctx context.Context) (*client.Client, error) {
	c, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("docker engine does not answer: %w", err)
	}
	return c, nil
}

func umask(m int) int { return syscall.Umask(m) }

// defaultStartTimeout is health.start_timeout when the config leaves it
// out (bounded by the deadline).
const defaultStartTimeout = 30 * time.Second

// healthCheck turns a service's health settings into the check the engine
// runs.
func healthCheck(h config.Health) health.Check {
	start := h.StartTimeout
	if start == 0 {
		start = min(defaultStartTimeout, h.Deadline)
	}
	return health.Check{Path: h.Path, Interval: h.Interval, StartInterval: h.StartInterval, Timeout: h.Timeout,
		HealthyThreshold: h.HealthyThreshold, Deadline: h.Deadline, StartTimeout: start}
}
