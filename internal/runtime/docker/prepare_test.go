package docker

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/runtime"
	"github.com/hotswap/hotswap/internal/runtime/docker/dockertest"
)

// TestPrepareMissing: a version that is neither local nor obtainable is
// ErrArtifactMissing naming the exact repo:tag and why, and Prepare leaves
// no container behind.
func TestPrepareMissing(t *testing.T) {
	f := newFixture(t, "")
	anon := dockertest.StartRegistry(t, "", "")
	tests := []struct {
		name   string
		image  string
		policy PullPolicy
		reason string
	}{
		{"registry has no such tag", anon + "/missing/web", PullMissing, reasonNotFound},
		{"registry unreachable", "127.0.0.1:1/missing/web", PullMissing, reasonUnreachable},
		{"pull policy never", f.repo, PullNever, "pull policy is never"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rt := f.runtime(t, func(c *Config) { c.Image, c.PullPolicy = tc.image, tc.policy })
			var out bytes.Buffer
			_, err := rt.Prepare(ctx, "v9", &out)
			if !errors.Is(err, runtime.ErrArtifactMissing) {
				t.Fatalf("Prepare: %v, want ErrArtifactMissing", err)
			}
			t.Logf("Prepare: %v", err)
			for _, want := range []string{tc.image + ":v9", tc.reason} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			ids, err := rt.List(ctx)
			if err != nil || len(ids) != 0 {
				t.Errorf("after a failed Prepare List = %q, %v; want nothing", ids, err)
			}
		})
	}
}

// TestPull: images come from a registry behind basic auth with the
// configured login or the Docker config file's, progress is readable, the
// artifact carries the registry digest (which is itself a valid version),
// and wrong or missing credentials are reported as such.
func TestPull(t *testing.T) {
	f := newFixture(t, "")
	host := dockertest.StartRegistry(t, "alice", "s3cret")
	repo := host + "/pull/web"
	dockertest.Push(t, host, "pull/web", "v1")
	dockertest.Push(t, host, "pull/web", "v2")
	t.Cleanup(func() {
		dockertest.RemoveImage(t, f.cli, repo+":v1")
		dockertest.RemoveImage(t, f.cli, repo+":v2")
	})
	dir := t.TempDir()
	writeFile := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	basic := func(u, p string) string { return base64.StdEncoding.EncodeToString([]byte(u + ":" + p)) }
	goodConfig := writeFile("good.json", fmt.Sprintf(`{"auths":{"http://%s/v1/":{"auth":%q}}}`, host, basic("alice", "s3cret")))
	badConfig := writeFile("bad.json", fmt.Sprintf(`{"auths":{"%s":{"auth":%q}}}`, host, basic("alice", "wrong")))
	noConfig := filepath.Join(dir, "absent.json")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name    string
			auth    *Auth
			config  string
			version string
			reason  string
		}{
			{"no credentials", nil, noConfig, "v1", reasonUnauthorized},
			{"wrong password", &Auth{"alice", "wrong"}, noConfig, "v1", reasonUnauthorized},
			{"wrong password in docker config", nil, badConfig, "v1", reasonUnauthorized},
			{"missing tag", &Auth{"alice", "s3cret"}, noConfig, "v7", reasonNotFound},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rt := f.runtime(t, func(c *Config) { c.Image, c.RegistryAuth, c.DockerConfig = repo, tc.auth, tc.config })
				_, err := rt.Prepare(ctx, tc.version, nil)
				if !errors.Is(err, runtime.ErrArtifactMissing) {
					t.Fatalf("Prepare: %v, want ErrArtifactMissing", err)
				}
				t.Logf("Prepare: %v", err)
				for _, want := range []string{repo + ":" + tc.version, tc.reason} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q shows the password", err)
				}
			})
		}
	})

	var digest string
	t.Run("configured login", func(t *testing.T) {
		rt := f.runtime(t, func(c *Config) { c.Image, c.RegistryAuth, c.DockerConfig = repo, &Auth{"alice", "s3cret"}, noConfig })
		var out bytes.Buffer
		art, err := rt.Prepare(ctx, "v1", &out)
		if err != nil {
			t.Fatalf("Prepare: %v\n%s", err, out.String())
		}
		t.Logf("pull output:\n%s", out.String())
		if art.Ref != repo+":v1" || !strings.HasPrefix(art.Digest, "sha256:") {
			t.Fatalf("Artifact = %+v", art)
		}
		ins, err := f.cli.ImageInspect(ctx, art.Ref)
		if err != nil {
			t.Fatal(err)
		}
		if ins.ID == art.Digest || len(ins.RepoDigests) == 0 {
			t.Fatalf("Artifact.Digest %s is the image ID, want the registry digest %q", art.Digest, ins.RepoDigests)
		}
		for _, want := range []string{"pulling " + repo + ":v1", "Digest: " + ins.RepoDigests[0][len(repo)+1:], "Downloaded newer image"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("progress lacks %q:\n%s", want, out.String())
			}
		}
		if n := strings.Count(out.String(), "\n"); n > 30 {
			t.Errorf("progress has %d lines; want a readable summary:\n%s", n, out.String())
		}
		digest = art.Digest

		// Present now: a second Prepare uses the local image, no pull.
		out.Reset()
		if _, err := rt.Prepare(ctx, "v1", &out); err != nil || out.Len() != 0 {
			t.Errorf("second Prepare: %v, output %q; want a silent local hit", err, out.String())
		}
		// The digest is a version too.
		art2, err := rt.Prepare(ctx, "@"+digest, nil)
		if err != nil || art2.Ref != repo+"@"+digest || art2.Digest != digest {
			t.Errorf("Prepare(@digest) = %+v, %v", art2, err)
		}
		inst, err := rt.Start(ctx, runtime.Spec{Version: "@" + digest, ReleaseID: 3})
		if err != nil {
			t.Fatalf("Start(@digest): %v", err)
		}
		defer inst.Remove(context.Background())
		waitServes(ctx, t, inst.Addr(), "v1")
	})

	t.Run("docker config login", func(t *testing.T) {
		rt := f.runtime(t, func(c *Config) { c.Image, c.DockerConfig = repo, goodConfig })
		art, err := rt.Prepare(ctx, "v2", nil)
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if art.Ref != repo+":v2" || art.Digest == digest {
			t.Errorf("Artifact = %+v", art)
		}
	})
}
