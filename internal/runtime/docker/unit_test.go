package docker

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/hotswap/hotswap/internal/runtime"
)

// These tests need no engine: the pure parts of the runtime.

func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	inContainer := filepath.Join(dir, "dockerenv")
	os.WriteFile(inContainer, nil, 0o600)
	tests := []struct {
		name      string
		cfg       Config
		dockerenv string
		check     func(Config) bool
		wantErr   string
	}{
		{"defaults on the host", Config{Owner: "hs-test", Service: "web", Image: "ghcr.io/acme/web"}, filepath.Join(dir, "absent"),
			func(c Config) bool {
				return c.Port == 3000 && c.StopSignal == "SIGTERM" && c.StopGrace == 10*time.Second &&
					c.Network == "hotswap" && c.Reach == ReachHost && c.PullPolicy == PullAuto &&
					c.pullPolicy("latest") == PullAlways && c.pullPolicy("v1") == PullMissing
			}, ""},
		{"auto inside a container", Config{Owner: "hs-test", Service: "web", Image: "web"}, inContainer,
			func(c Config) bool { return c.Reach == ReachNetwork }, ""},
		{"explicit host inside a container", Config{Owner: "hs-test", Service: "web", Image: "web", Reach: ReachHost}, inContainer,
			func(c Config) bool { return c.Reach == ReachHost }, ""},
		{"no owner", Config{Service: "web", Image: "web"}, "", nil, "owner is required"},
		{"no service", Config{Owner: "hs-test", Image: "web"}, "", nil, "service name is required"},
		{"bad service", Config{Owner: "hs-test", Service: "my web", Image: "web"}, "", nil, "service name may contain only"},
		{"no image", Config{Owner: "hs-test", Service: "web"}, "", nil, "image is required"},
		{"image with tag", Config{Owner: "hs-test", Service: "web", Image: "web:v1"}, "", nil, "must not carry a tag"},
		{"image with digest", Config{Owner: "hs-test", Service: "web", Image: "web@sha256:" + strings.Repeat("a", 64)}, "", nil, "must not carry a digest"},
		{"bad reach", Config{Owner: "hs-test", Service: "web", Image: "web", Reach: "bridge"}, "", nil, `reach "bridge"`},
		{"bad pull policy", Config{Owner: "hs-test", Service: "web", Image: "web", PullPolicy: "sometimes"}, "", nil, `pull policy "sometimes"`},
		{"bad port", Config{Owner: "hs-test", Service: "web", Image: "web", Port: 70000}, "", nil, "port 70000"},
		{"relative volume target", Config{Owner: "hs-test", Service: "web", Image: "web", Volumes: []string{"data:data"}}, "", nil, "not absolute"},
		{"bad volume mode", Config{Owner: "hs-test", Service: "web", Image: "web", Volumes: []string{"/a:/b:rx"}}, "", nil, `mode "rx"`},
		{"good volumes", Config{Owner: "hs-test", Service: "web", Image: "web", Volumes: []string{"data:/data", "/etc/app:/config:ro"}}, "",
			func(c Config) bool { return len(c.Volumes) == 2 }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.dockerenv != "" {
				old := dockerEnvFile
				dockerEnvFile = tc.dockerenv
				defer func() { dockerEnvFile = old }()
			}
			got, err := tc.cfg.withDefaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(got) {
				t.Fatalf("withDefaults() = %+v, %v", got, err)
			}
		})
	}
}

func TestNames(t *testing.T) {
	rt := &Runtime{cfg: Config{Service: "web", Image: "ghcr.io/acme/web"}}
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		version, ref, name, err string
	}{
		{"v2", "ghcr.io/acme/web:v2", "hotswap-web-v2-7", ""},
		{"1.4.0_rc1", "ghcr.io/acme/web:1.4.0_rc1", "hotswap-web-1.4.0_rc1-7", ""},
		{"@" + digest, "ghcr.io/acme/web@" + digest, "hotswap-web-sha256-abababababab-7", ""},
		{digest, "ghcr.io/acme/web@" + digest, "hotswap-web-sha256-abababababab-7", ""},
		{"v2+build", "", "", "neither an image tag nor a digest"},
		{"", "", "", "neither"},
		{"-v", "", "", "neither"},
	}
	for _, tc := range tests {
		ref, err := rt.imageRef(tc.version)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("imageRef(%q) = %q, %v; want error %q", tc.version, ref, err, tc.err)
			}
			continue
		}
		if err != nil || ref != tc.ref {
			t.Errorf("imageRef(%q) = %q, %v; want %q", tc.version, ref, err, tc.ref)
		}
		if got := rt.containerName(tc.version, 7); got != tc.name {
			t.Errorf("containerName(%q) = %q, want %q", tc.version, got, tc.name)
		}
	}
}

func TestReadEnvFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          [][2]string
		wantErr       string
	}{
		{"forms", "# comment\n\nA=1\nexport B = two words \nC=\"quoted # not a comment\"\nD='single'\nE=\nF=a=b\n", [][2]string{
			{"A", "1"}, {"B", "two words"}, {"C", "quoted # not a comment"}, {"D", "single"}, {"E", ""}, {"F", "a=b"},
		}, ""},
		{"no equals", "A=1\nB\n", nil, ":2: want KEY=VALUE"},
		{"bad name", "A=1\n\n1X=2\n", nil, `:3: invalid variable name "1X"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".env")
			os.WriteFile(p, []byte(tc.content), 0o600)
			got, err := readEnvFile(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), p+tc.wantErr) {
					t.Fatalf("error %v, want %q", err, p+tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("readEnvFile = %q, %v; want %q", got, err, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("line %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
	if _, err := readEnvFile(filepath.Join(dir, "absent")); err == nil {
		t.Error("a missing env file is not an error")
	}
}

func TestDockerConfigCreds(t *testing.T) {
	dir := t.TempDir()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cfg := `{"auths":{
		"https://index.docker.io/v1/":{"auth":"` + b64("hub:hubpass") + `"},
		"ghcr.io":{"auth":"` + b64("gh:ghpass:with:colons") + `"},
		"https://registry.example.com/v2/":{"identitytoken":"tok"},
		"broken.example.com":{"auth":"!!!"}
	},"credsStore":"desktop"}`
	path := filepath.Join(dir, "config.json")
	os.WriteFile(path, []byte(cfg), 0o600)
	tests := []struct {
		host, user, pass, token, err string
	}{
		{"docker.io", "hub", "hubpass", "", ""},
		{"ghcr.io", "gh", "ghpass:with:colons", "", ""},
		{"registry.example.com", "", "", "tok", ""},
		{"broken.example.com", "", "", "", "not base64"},
		{"quay.io", "", "", "", "credential helpers"},
	}
	for _, tc := range tests {
		got, err := credsFromDockerConfig(path, tc.host)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %+v, %v; want error %q", tc.host, got, err, tc.err)
			}
			continue
		}
		if err != nil || got == nil || got.Username != tc.user || got.Password != tc.pass || got.IdentityToken != tc.token {
			t.Errorf("%s: %+v, %v", tc.host, got, err)
		}
	}
	if got, err := credsFromDockerConfig(filepath.Join(dir, "absent.json"), "ghcr.io"); got != nil || err != nil {
		t.Errorf("absent config: %+v, %v; want nothing", got, err)
	}
}

func TestProgress(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out)
	msgs := []jsonstream.Message{
		{Status: "Pulling from acme/web", ID: "v2"},
		{Status: "Pulling fs layer", ID: "abc"},
		{Status: "Downloading", ID: "abc", Progress: &jsonstream.Progress{Current: 10, Total: 1000}},
		{Status: "Downloading", ID: "abc", Progress: &jsonstream.Progress{Current: 20, Total: 1000}},
		{Status: "Downloading", ID: "abc", Progress: &jsonstream.Progress{Current: 600, Total: 1000}},
		{Status: "Downloading", ID: "abc", Progress: &jsonstream.Progress{Current: 700, Total: 1000}},
		{Status: "Download complete", ID: "abc", Progress: &jsonstream.Progress{}},
		{Status: "Pull complete", ID: "abc"},
		{Status: "Digest: sha256:123"},
	}
	for _, m := range msgs {
		p.show(m)
	}
	want := "v2: Pulling from acme/web\nabc: Pulling fs layer\nabc: Downloading 0% of 1000 B\n" +
		"abc: Downloading 50% of 1000 B\nabc: Download complete\nabc: Pull complete\nDigest: sha256:123\n"
	if out.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", out.String(), want)
	}
	if got := humanBytes(3 << 20); got != "3.0 MiB" {
		t.Errorf("humanBytes = %q", got)
	}
}

func TestExitFromCode(t *testing.T) {
	tests := []struct {
		code int
		want runtime.Exit
	}{
		{0, runtime.Exit{Code: 0}},
		{3, runtime.Exit{Code: 3}},
		{128, runtime.Exit{Code: 128}},
		{137, runtime.Exit{Code: -1, Signal: "SIGKILL"}},
		{143, runtime.Exit{Code: -1, Signal: "SIGTERM"}},
		{255, runtime.Exit{Code: 255}},
	}
	for _, tc := range tests {
		if got := exitFromCode(tc.code); got != tc.want {
			t.Errorf("exitFromCode(%d) = %+v, want %+v", tc.code, got, tc.want)
		}
	}
}
