package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var fullEnv = map[string]string{
	"HOTSWAP_TOKEN_CI":     "ci-token-0123456789abcdef",
	"REG_PASS":             "registry-password",
	"API_HOOK_SECRET":      "api-hook-secret-0123456789",
	"GH_HOOK_SECRET":       "github-secret-0123456789",
	"HOOK_SECRET":          "generic-secret-0123456789",
	"DOCKERHUB_PATH_TOKEN": "dockerhub-path-token-0123456789",
	"SLACK_URL":            "https://hooks.slack.com/services/T0/B0/secret",
}

// TestFull loads the example that sets every key and compares the whole
// result, so a key that is parsed into the wrong field, or ignored, fails.
func TestFull(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parse("testdata/full.yaml", data, lookup(fullEnv))
	if err != nil {
		t.Fatalf("full.yaml: %v", err)
	}
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	health := Health{Path: "/health", Interval: 500 * time.Millisecond, StartInterval: 50 * time.Millisecond, StartTimeout: 20 * time.Second, Timeout: 2 * time.Second, HealthyThreshold: 3, Deadline: 90 * time.Second}
	apiHealth := health
	apiHealth.Path = ""
	want := &Config{
		StateDir: "/var/lib/hotswap",
		Proxy: Proxy{Listen: ":8080", HealthPath: "/_hotswap/up", ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout: 2 * time.Minute, ResponseHeaderTimeout: 30 * time.Second, SendTimeout: 30 * time.Second,
			ClientBodyTimeout: 20 * time.Second, RequestBuffer: 128 << 10, ReadyPath: "/_hotswap/ready",
			AccessLog: "stdout", RequestID: true, ReadyServices: []string{"web"},
			TLS: &TLS{Listen: ":8443",
				ACME: &ACME{DirectoryURL: "https://acme-staging-v02.api.letsencrypt.org/directory", Email: "ops@example.com",
					CARoots: filepath.Join(dir, "tls/ca.pem"), RenewBefore: 720 * time.Hour},
				Certificates: []CertFile{{Hosts: []string{"*.internal.example.com"},
					Cert: filepath.Join(dir, "tls/internal.pem"), Key: filepath.Join(dir, "tls/internal.key")}},
				ReloadInterval: 30 * time.Second, MinVersion: "1.3", HSTS: 8760 * time.Hour, HSTSIncludeSubdomains: true, HTTP3: true}},

		Control: Control{
			Socket: "/run/hotswap.sock", SocketGroup: "hotswap", AuditMaxAge: 720 * time.Hour, AuditMaxRows: 50_000,
			Listen: "127.0.0.1:9090",
			Tokens: []Token{
				{Name: "ci", Token: Secret{"ci-token-0123456789abcdef", "env HOTSWAP_TOKEN_CI"}, Role: RoleDeployer},
				{Name: "ops", Token: Secret{"ops-token-0123456789abcdef", "file " + filepath.Join(dir, "secrets/ops.token")}, Role: RoleViewer},
			},
			Metrics: false,
		},
		Services: []Service{
			{
				Name: "web", Hosts: []string{"example.com", "www.example.com"}, Runtime: RuntimeProcess, RedirectHTTP: true,
				VersionPattern: `^v\d+\.\d+\.\d+$`,
				Env:            map[string]string{"PORT": "{port}", "APP_VERSION": "{version}", "WORKERS": "4"},
				Process: &Process{
					Command: Argv{"./bin/web", "--port", "{port}", "--service", "{service}"},
					Dir:     filepath.Join(dir, "app"), LogMaxSize: 10 << 20, LogKeep: 5,
				},
				Health:       health,
				DrainTimeout: 20 * time.Second, StopGrace: 5 * time.Second, WarmFor: 15 * time.Minute,
				Hooks: Hooks{
					PreTraffic: []Argv{{"./bin/migrate", "up", "--release", "{release}"}, {"./bin/warm-cache", "--quick"}},
					Timeout:    2 * time.Minute,
				},
				Strategy: StrategyCanary,
				Canary: &Canary{
					Steps:              []CanaryStep{{5, time.Minute}, {25, 2 * time.Minute}, {50, 2 * time.Minute}},
					ApprovalBeforeLast: true,
					StickyCookie:       "web_canary",
				},
				Preview: Preview{Header: "X-Preview", Cookie: "web_preview"},
				Analysis: &Analysis{Interval: 15 * time.Second, MinRequests: 100, MaxErrorRate: 0.01,
					MaxErrorRateDelta: 0.005, MaxP95: 800 * time.Millisecond, Bake: 5 * time.Minute},
			},
			{
				Name: "api", Hosts: []string{"example.com"}, PathPrefix: "/api", Runtime: RuntimeDocker,
				Docker: &Docker{
					Image: "ghcr.io/acme/api", Port: 3000,
					EnvFiles:   []string{filepath.Join(dir, "api.env")},
					Volumes:    []string{"api-cache:/cache", filepath.Join(dir, "uploads") + ":/srv/uploads:ro"},
					Command:    Argv{"serve", "--port", "3000"},
					Entrypoint: Argv{"/app/entrypoint"},
					User:       "1000:1000", Memory: 512 << 20, CPUs: 1.5, StopSignal: "SIGINT",
					Labels:  map[string]string{"com.example.team": "payments"},
					Network: "acme", Reach: ReachNetwork, KeepImages: 3, Pull: "always", MutableTags: []string{"latest", "stable"},
					RegistryAuth: &RegistryAuth{Username: "acme-bot", Password: Secret{"registry-password", "env REG_PASS"}},
				},
				Health:       apiHealth,
				DrainTimeout: 30 * time.Second, StopGrace: 10 * time.Second, WarmFor: 0,
				Hooks:    Hooks{Timeout: 5 * time.Minute},
				Strategy: StrategyBlueGreen,
				Preview:  Preview{Header: "X-Hotswap-Preview", Cookie: "hotswap_preview"},
				Webhooks: &Webhooks{
					Generic: &GenericWebhook{Secret: Secret{"api-hook-secret-0123456789", "env API_HOOK_SECRET"}, Window: time.Minute},
					MaxBody: 64 << 10,
				},
			},
		},
		Webhooks: Webhooks{
			GitHub:    &GitHubWebhook{Secret: Secret{"github-secret-0123456789", "env GH_HOOK_SECRET"}},
			Generic:   &GenericWebhook{Secret: Secret{"generic-secret-0123456789", "env HOOK_SECRET"}, Window: 5 * time.Minute},
			DockerHub: &DockerHubWebhook{PathToken: Secret{"dockerhub-path-token-0123456789", "env DOCKERHUB_PATH_TOKEN"}},
			MaxBody:   2 << 20,
		},
		Notify: []Notify{
			{Kind: NotifySlack, URL: Secret{"https://hooks.slack.com/services/T0/B0/secret", "env SLACK_URL"}, Events: []string{"failed", "rolled_back"}},
			{Kind: NotifyWebhook, URL: Secret{"https://hooks.example.com/hotswap", "inline"}, Events: NotifyEvents},
		},
		Dashboard: Dashboard{Enabled: true, PublicURL: "https://deploy.example.com/ui/",
			CommitURL: "https://github.com/example/shop/commit/{commit}", SessionTTL: 8 * time.Hour, LinkTTL: 2 * time.Hour},
	}
	if got.pos == nil || got.file != "testdata/full.yaml" {
		t.Errorf("positions not kept: file %q, %d positions", got.file, len(got.pos))
	}
	got.pos, got.file = nil, ""
	for i := range want.Services {
		if !reflect.DeepEqual(got.Services[i], want.Services[i]) {
			t.Errorf("services[%d]:\n got %#v\nwant %#v", i, got.Services[i], want.Services[i])
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config differs:\n got %+v\nwant %+v", got, want)
	}

	api, ok := got.Service("api")
	if !ok || api.Name != "api" {
		t.Fatalf("Service(api) = %v, %v", api, ok)
	}
	if _, ok := got.Service("nope"); ok {
		t.Error("Service(nope) found")
	}
	w := got.WebhooksFor(api)
	if w.Generic.Window != time.Minute || w.GitHub != got.Webhooks.GitHub || w.MaxBody != 64<<10 {
		t.Errorf("WebhooksFor(api) = %+v", w)
	}
	web, _ := got.Service("web")
	if w := got.WebhooksFor(web); !reflect.DeepEqual(w, got.Webhooks) {
		t.Errorf("WebhooksFor(web) = %+v, want the top-level blocks", w)
	}
}

// TestDefaults checks every default on the smallest valid config.
func TestDefaults(t *testing.T) {
	src := "services:\n  - {name: web, hosts: [a.test], runtime: process, process: {command: './web {port}'}}\n" +
		"  - {name: img, hosts: [b.test], runtime: docker, docker: {image: acme/img, port: 80}, analysis: {}, strategy: canary, canary: {steps: [{weight: 10, duration: 1m}]}}\n" +
		"notify: [{kind: discord, url: 'https://discord.example/x'}]\n" +
		"control: {listen: ':0', tokens: [{name: ci, token: abcdefghijklmnopqrstu}]}\n" +
		"webhooks: {generic: {secret: abcdefghijklmnopqrstu}}\n"
	c, err := parse("/etc/hotswap/hotswap.yaml", []byte(src), lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"state_dir", c.StateDir, "/var/lib/hotswap"},
		{"proxy", c.Proxy, Proxy{":8080", "/_hotswap/up", 10 * time.Second, 120 * time.Second, 60 * time.Second,
			60 * time.Second, 60 * time.Second, 64 << 10, "/_hotswap/ready", "", true, nil, nil}},
		{"control.socket", c.Control.Socket, "/var/lib/hotswap/hotswap.sock"},
		{"control.metrics", c.Control.Metrics, true},
		{"webhooks.max_body", c.Webhooks.MaxBody, ByteSize(1 << 20)},
		{"webhooks.generic.window", c.Webhooks.Generic.Window, 5 * time.Minute},
		{"notify.events", c.Notify[0].Events, NotifyEvents},
		{"process.command", c.Services[0].Process.Command, Argv{"./web", "{port}"}},
		{"process.dir", c.Services[0].Process.Dir, "/etc/hotswap"},
		{"health", c.Services[0].Health, Health{Path: "/health", Interval: time.Second, StartInterval: 100 * time.Millisecond, Timeout: 2 * time.Second, HealthyThreshold: 3, Deadline: 60 * time.Second}},
		{"drain_timeout", c.Services[0].DrainTimeout, 30 * time.Second},
		{"stop_grace", c.Services[0].StopGrace, 10 * time.Second},
		{"warm_for", c.Services[0].WarmFor, 10 * time.Minute},
		{"hooks.timeout", c.Services[0].Hooks.Timeout, 5 * time.Minute},
		{"strategy", c.Services[0].Strategy, StrategyBlueGreen},
		{"preview", c.Services[0].Preview, Preview{"X-Hotswap-Preview", "hotswap_preview", Secret{}}},
		{"analysis absent", c.Services[0].Analysis, (*Analysis)(nil)},
		{"canary absent", c.Services[0].Canary, (*Canary)(nil)},
		{"version_pattern", c.Services[0].VersionPattern, ""},
		{"docker", *c.Services[1].Docker, Docker{Image: "acme/img", Port: 80, StopSignal: "SIGTERM", Network: "hotswap", Reach: ReachAuto, KeepImages: 5}},
		{"analysis", *c.Services[1].Analysis, Analysis{Interval: 10 * time.Second, MinRequests: 50, MaxErrorRate: 0.05, MaxErrorRateDelta: 0.02}},
		{"canary.sticky_cookie", c.Services[1].Canary.StickyCookie, "hotswap_canary"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	// The exported defaults agree with what the file gets.
	if d := DefaultService(); !reflect.DeepEqual(d.Health, c.Services[0].Health) || d.WarmFor != c.Services[0].WarmFor {
		t.Errorf("DefaultService() = %+v", d)
	}
	if d := DefaultDocker(); d.Network != "hotswap" || d.KeepImages != 5 {
		t.Errorf("DefaultDocker() = %+v", d)
	}
}

// TestExplicitZero checks that a value written as zero or empty stays so
// instead of being replaced by its default.
func TestExplicitZero(t *testing.T) {
	src := processBase + "    warm_for: 0\n    health: {path: \"\"}\n    drain_timeout: 0s\ncontrol: {metrics: false}\n"
	c, err := parse("z.yaml", []byte(src), lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services[0]
	if s.WarmFor != 0 || s.Health.Path != "" || s.DrainTimeout != 0 || c.Control.Metrics {
		t.Errorf("explicit zeros replaced: warm_for %v, health.path %q, drain_timeout %v, metrics %v",
			s.WarmFor, s.Health.Path, s.DrainTimeout, c.Control.Metrics)
	}
}

func TestMergeKeys(t *testing.T) {
	src := `x-base: &base
  hosts: [a.test]
  runtime: process
  process: {command: [./app, "{port}"]}
  stop_grace: 3s
x-more: &more
  stop_grace: 9s
  drain_timeout: 7s
services:
  - <<: [*base, *more]
    name: one
  - <<: *base
    name: two
    hosts: [b.test]
`
	c, err := parse("m.yaml", []byte(src), lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	one, two := c.Services[0], c.Services[1]
	if one.StopGrace != 3*time.Second || one.DrainTimeout != 7*time.Second || one.Hosts[0] != "a.test" {
		t.Errorf("one: stop_grace %v (want 3s: the first merged mapping wins), drain_timeout %v, hosts %v", one.StopGrace, one.DrainTimeout, one.Hosts)
	}
	if two.Hosts[0] != "b.test" || two.Process.Command[0] != "./app" {
		t.Errorf("two: hosts %v (own keys override merged ones), command %v", two.Hosts, two.Process.Command)
	}
}

// TestSecretsNeverShown checks that secrets stay out of errors, fmt, slog
// and JSON.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "s3cr3t-value"
	src := processBase + "control:\n  listen: :9090\n  tokens: [{name: ci, token: " + secret + "}]\n" +
		"notify: [{kind: slack, url: 'ftp://" + secret + "'}]\n"
	_, err := parse("s.yaml", []byte(src), lookup(nil))
	if err == nil {
		t.Fatal("short token and ftp URL accepted")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error shows the secret:\n%v", err)
	}
	if !strings.Contains(err.Error(), "s.yaml:8:") {
		t.Errorf("error does not locate the token: %v", err)
	}

	tok := Token{Name: "ci", Token: NewSecret(secret, "test")}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("token", "t", tok.Token, "whole", tok)
	js, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok.Token), logged.String(), string(js)} {
		if strings.Contains(out, secret) {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if tok.Token.Value() != secret {
		t.Error("Value() does not return the secret")
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tok"), []byte("file-token-0123456789abcdef\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := processBase + "control:\n  listen: :9090\n  tokens: [{name: a, token_file: tok}]\n"
	c, err := parse(filepath.Join(dir, "h.yaml"), []byte(src), lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Control.Tokens[0].Token.Value(); v != "file-token-0123456789abcdef" {
		t.Errorf("token from file = %q", v)
	}
	src = processBase + "control:\n  listen: :9090\n  tokens: [{name: a, token_file: empty}]\n"
	_, err = parse(filepath.Join(dir, "h.yaml"), []byte(src), lookup(nil))
	if err == nil || !strings.Contains(err.Error(), "control.tokens[0].token_file: secret file") || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty secret file: %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hotswap.yaml")
	if _, err := Load(path); err == nil || errors.Is(err, ErrInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v (want a not-exist error that is not ErrInvalid)", err)
	}
	if err := os.WriteFile(path, []byte(processBase+"state_dir: state\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDir != filepath.Join(dir, "state") || c.Control.Socket != filepath.Join(dir, "state", "hotswap.sock") {
		t.Errorf("relative state_dir not resolved: %q, socket %q", c.StateDir, c.Control.Socket)
	}
	if err := os.WriteFile(path, []byte("services: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), path+":1:1: services:") {
		t.Errorf("bad file: %v", err)
	}
}

// TestValidateBuiltInCode checks Validate on a Config assembled in code:
// no positions, still every problem with its key path.
func TestValidateBuiltInCode(t *testing.T) {
	c := Default()
	s := DefaultService()
	s.Name, s.Hosts, s.Runtime = "web", []string{"a.test"}, RuntimeDocker
	s.Docker = DefaultDocker()
	s.Docker.Image, s.Docker.Port = "acme/web", 8080
	c.Services = append(c.Services, s)
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	c.Services[0].Health.Interval = 0
	c.Services[0].Docker.Image = "acme/web:latest"
	err := c.Validate()
	want := "services[0].docker.image: \"acme/web:latest\": leave out the tag; the version deployed is the tag\n" +
		"services[0].health.interval: must be positive"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}
