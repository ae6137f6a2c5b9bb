package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"

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
// its runtime. The Docker client is created once, only if a service needs it.
func (d *Daemon) buildServices(ctx context.Context) ([]deploy.ServiceSpec, error) {
	var dc *client.Client
	specs := make([]deploy.ServiceSpec, 0, len(d.cfg.Services))
	for i := range d.cfg.Services {
		sc := &d.cfg.Services[i]
		vv, err := version.Compile(sc.VersionPattern)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", sc.Name, err)
		}
		d.versions[sc.Name] = vv
		var r rt.Runtime
		switch sc.Runtime {
		case config.RuntimeProcess:
			r, err = process.New(process.Config{
				Service: sc.Name, Command: sc.Process.Command, Dir: sc.Process.Dir, Env: sc.Env,
				StopGrace: sc.StopGrace, LogDir: filepath.Join(d.cfg.StateDir, "logs", sc.Name),
				LogMaxSize: int64(sc.Process.LogMaxSize), LogKeep: sc.Process.LogKeep,
			}, d.log)
		case config.RuntimeDocker:
			if dc == nil {
				dc, err = dockerClient(ctx)
				if err != nil {
					return nil, fmt.Errorf("service %s: %w", sc.Name, err)
				}
				d.closer = append(d.closer, dc.Close)
			}
			r, err = docker.New(ctx, dc, dockerConfig(sc, d.owner), d.log)
		default:
			err = fmt.Errorf("unknown runtime %q", sc.Runtime)
		}
		if err != nil {
			return nil, fmt.Errorf("service %s: runtime: %w", sc.Name, err)
		}
		if h, ok := r.(hookSweeper); ok {
			d.sweepers = append(d.sweepers, h)
		}
		if c, ok := r.(interface{ Close() error }); ok {
			d.closer = append(d.closer, c.Close)
		}
		keep := 0 // the engine's default
		if sc.Docker != nil {
			keep = sc.Docker.KeepImages
		}
		specs = append(specs, deploy.ServiceSpec{
			Name: sc.Name, Hosts: sc.Hosts, PathPrefix: sc.PathPrefix, Runtime: r, Versions: vv,
			Health: health.Check{Path: sc.Health.Path, Interval: sc.Health.Interval, Timeout: sc.Health.Timeout,
				HealthyThreshold: sc.Health.HealthyThreshold, Deadline: sc.Health.Deadline},
			DrainTimeout: sc.DrainTimeout, WarmFor: sc.WarmFor,
			Hooks: argvs(sc.Hooks.PreTraffic), HookTimeout: sc.Hooks.Timeout,
			KeepReleases: keep,
			Proxy:        proxy.ServiceOptions{PreviewHeader: sc.Preview.Header, PreviewCookie: sc.Preview.Cookie, StickyCookie: stickyCookie(sc)},
			Progressive:  progressive(sc),
		})
	}
	return specs, nil
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
