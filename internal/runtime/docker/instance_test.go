package docker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/runtime"
)

// TestExit: the engine's record of how a container ended reaches Exit: the
// app's own code, a kill after the stop grace when the app ignores the stop
// signal, and an OOM kill under a memory limit.
func TestExit(t *testing.T) {
	f := newFixture(t, "", "v1", "v4-crash")
	tests := []struct {
		name    string
		edit    func(*Config)
		version string
		stop    bool // Stop it (else it ends by itself)
		want    runtime.Exit
	}{
		{"crash at boot", nil, "v4-crash", false, runtime.Exit{Code: 3}},
		{"exit code", func(c *Config) { c.Command = []string{"hook", "--exit", "7"} }, "v1", false, runtime.Exit{Code: 7}},
		{"stop signal ignored, killed after grace", func(c *Config) {
			// Go programs ignore SIGUSR1 unless they ask for it.
			c.Command = []string{"hook", "--sleep", "1h"}
			c.StopSignal, c.StopGrace = "SIGUSR1", time.Second
		}, "v1", true, runtime.Exit{Code: -1, Signal: "SIGKILL"}},
		{"out of memory", func(c *Config) {
			c.Command = []string{"hook", "--alloc", "512", "--sleep", "1h"}
			c.Memory = 48 << 20
		}, "v1", false, runtime.Exit{Code: -1, Signal: "SIGKILL", OOMKilled: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rt := f.runtime(t, tc.edit)
			inst, err := rt.Start(ctx, runtime.Spec{Version: tc.version, ReleaseID: 1})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			defer inst.Remove(context.Background())
			if tc.stop {
				begin := time.Now()
				if err := inst.Stop(ctx); err != nil {
					t.Fatalf("Stop: %v", err)
				}
				if took := time.Since(begin); took < time.Second {
					t.Errorf("Stop took %v, less than the 1s grace", took)
				}
			}
			select {
			case <-inst.Done():
			case <-ctx.Done():
				t.Fatal("Done never closed")
			}
			got, ok := inst.Exit()
			if !ok || got.Code != tc.want.Code || got.Signal != tc.want.Signal || got.OOMKilled != tc.want.OOMKilled || got.Err != nil {
				logs, _ := inst.Logs(ctx, 10)
				t.Fatalf("Exit() = %v (%+v), %v; want %v\nlogs: %q", got, got, ok, tc.want, logs)
			}
			if got.At.IsZero() || time.Since(got.At) > time.Minute {
				t.Errorf("Exit().At = %v", got.At)
			}
			// Adopt reads the same record from the engine.
			a, err := rt.Adopt(ctx, inst.ID())
			if err != nil {
				t.Fatalf("Adopt: %v", err)
			}
			if e, ok := a.Exit(); !ok || e.Code != got.Code || e.OOMKilled != got.OOMKilled {
				t.Errorf("adopted Exit() = %v, %v; want %v", e, ok, got)
			}
		})
	}
}

// TestContainerShape: a container gets hotswap's name and labels plus the
// user's, the env from files, config, spec and hotswap in that order of
// precedence, its limits, and the network, which is created when missing.
func TestContainerShape(t *testing.T) {
	f := newFixture(t, "", "v1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	envA := filepath.Join(dir, "a.env")
	envB := filepath.Join(dir, "b.env")
	os.WriteFile(envA, []byte("# base\nFROM_FILE=a\nOVERRIDDEN=file\nexport QUOTED=\"x y\"\n"), 0o600)
	os.WriteFile(envB, []byte("FROM_FILE=b\nPORT=1\n"), 0o600)
	volume := "hotswap-test-" + randomID()
	t.Cleanup(func() { // after the container is gone (cleanups run last first)
		_, err := f.cli.VolumeRemove(context.Background(), volume, client.VolumeRemoveOptions{})
		if err != nil {
			t.Errorf("cleanup: remove volume %s: %v", volume, err)
		}
	})
	rt := f.runtime(t, func(c *Config) {
		c.EnvFiles = []string{envA, envB}
		c.Env = map[string]string{"OVERRIDDEN": "config", "SPEC_WINS": "config"}
		c.Labels = map[string]string{"team": "web", LabelService: "spoofed"}
		c.Memory = 256 << 20
		c.CPUs = 0.5
		c.Volumes = []string{volume + ":/data"}
	})
	inst, err := rt.Start(ctx, runtime.Spec{Version: "v1", ReleaseID: 42, Env: map[string]string{"SPEC_WINS": "spec"}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer inst.Remove(context.Background())
	ins, err := f.cli.ContainerInspect(ctx, inst.ID(), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := ins.Container
	if want := "/hotswap-" + rt.cfg.Service + "-v1-42"; c.Name != want {
		t.Errorf("name %q, want %q", c.Name, want)
	}
	wantLabels := map[string]string{
		LabelManaged: "true", LabelService: rt.cfg.Service, LabelVersion: "v1", LabelRelease: "42", "team": "web",
	}
	for k, v := range wantLabels {
		if c.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Config.Labels[k], v)
		}
	}
	for _, want := range []string{
		"FROM_FILE=b", "OVERRIDDEN=config", "QUOTED=x y", "SPEC_WINS=spec", "PORT=3000",
		"HOTSWAP_SERVICE=" + rt.cfg.Service, "HOTSWAP_VERSION=v1", "HOTSWAP_RELEASE=42",
	} {
		if !slices.Contains(c.Config.Env, want) {
			t.Errorf("env lacks %s: %q", want, c.Config.Env)
		}
	}
	if hc := c.HostConfig; hc.Memory != 256<<20 || hc.NanoCPUs != 5e8 || !slices.Equal(hc.Binds, rt.cfg.Volumes) {
		t.Errorf("limits/mounts: memory %d, nanocpus %d, binds %q", hc.Memory, hc.NanoCPUs, hc.Binds)
	}
	if c.NetworkSettings.Networks[f.network] == nil {
		t.Errorf("not attached to %s: %v", f.network, c.NetworkSettings.Networks)
	}
	n, err := f.cli.NetworkInspect(ctx, f.network, client.NetworkInspectOptions{})
	if err != nil {
		t.Fatalf("network %s: %v", f.network, err)
	}
	if n.Network.Labels[LabelManaged] != "true" || n.Network.Driver != "bridge" {
		t.Errorf("network %s: driver %s, labels %v", f.network, n.Network.Driver, n.Network.Labels)
	}
	if !strings.HasPrefix(inst.Addr(), "127.0.0.1:") {
		t.Errorf("host reach Addr = %q, want 127.0.0.1:<port>", inst.Addr())
	}
	waitServes(ctx, t, inst.Addr(), "v1")
	if err := inst.Remove(ctx); err != nil {
		t.Fatal(err)
	}

	// A broken env file fails Start with file:line and creates nothing.
	os.WriteFile(envB, []byte("OK=1\nnot an assignment\n"), 0o600)
	_, err = rt.Start(ctx, runtime.Spec{Version: "v1", ReleaseID: 43})
	if err == nil || !strings.Contains(err.Error(), envB+":2") {
		t.Errorf("Start with a broken env file: %v, want an error naming %s:2", err, envB)
	}
	if ids, _ := rt.List(ctx); len(ids) != 0 {
		t.Errorf("failed Start left %q", ids)
	}
}

// TestRestartReuses: stopping and starting the same version restarts the
// same container (no new one), unless the settings changed meanwhile.
func TestRestartReuses(t *testing.T) {
	f := newFixture(t, "", "v1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt := f.runtime(t, nil)
	first, err := rt.Start(ctx, runtime.Spec{Version: "v1", ReleaseID: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitServes(ctx, t, first.Addr(), "v1")
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := rt.Start(ctx, runtime.Spec{Version: "v1", ReleaseID: 2})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID() != first.ID() {
		t.Errorf("restart created %s instead of reusing %s", short(again.ID()), short(first.ID()))
	}
	waitServes(ctx, t, again.Addr(), "v1")
	if err := again.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// Same service, different env: the stopped container is not reused.
	cfg := rt.Config()
	cfg.Env = map[string]string{"NEW": "1"}
	changed, err := New(ctx, f.cli, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	third, err := changed.Start(ctx, runtime.Spec{Version: "v1", ReleaseID: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer third.Remove(context.Background())
	if third.ID() == first.ID() {
		t.Error("a container with other settings was reused")
	}
	ids, err := rt.List(ctx)
	if err != nil || len(ids) != 2 {
		t.Errorf("List = %q, %v; want the stopped and the new container", ids, err)
	}
}

// TestAdoptForeign: a container of another service is not adopted.
func TestAdoptForeign(t *testing.T) {
	f := newFixture(t, "", "v1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, b := f.runtime(t, nil), f.runtime(t, nil)
	inst, err := a.Start(ctx, runtime.Spec{Version: "v1", ReleaseID: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Remove(context.Background())
	if _, err := b.Adopt(ctx, inst.ID()); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Adopt of another service's container: %v, want ErrNotFound", err)
	}
	if ids, err := b.List(ctx); err != nil || len(ids) != 0 {
		t.Errorf("other service's List = %q, %v", ids, err)
	}
}
