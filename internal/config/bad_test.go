package config

import (
	"errors"
	"strings"
	"testing"
)

// processBase is a valid one-service config; cases append lines from line 6.
const processBase = `services:
  - name: web
    hosts: [example.com]
    runtime: process
    process: {command: [./web, --port, "{port}"]}
`

// dockerBase is a valid docker service; cases append docker keys from line 8.
const dockerBase = `services:
  - name: api
    hosts: [example.com]
    runtime: docker
    docker:
      image: ghcr.io/acme/api
      port: 3000
`

// listenBase opens the TCP listener with one token, for webhook cases.
const listenBase = processBase + `control:
  listen: 127.0.0.1:9090
  tokens: [{name: ci, token_env: TOKEN}]
`

// testEnv is the environment the bad-config cases see.
var testEnv = map[string]string{
	"TOKEN":     "0123456789abcdef0123",
	"SHORT":     "tiny-secret",
	"HOOK":      "hook-secret-0123456789",
	"EMPTY_VAR": "",
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// TestBad checks that each broken file yields exactly one error naming the
// file, line, column and key path, with a helpful message.
func TestBad(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // "line:col: path: message fragment"
	}{
		{"unknown key", processBase + "    helth: {path: /}\n", "6:5: services[0].helth: unknown key (did you mean health?)"},
		{"unknown top key", "servics: []\n", "1:1: servics: unknown key (did you mean services?)"},
		{"bad duration", processBase + "    health:\n      interval: 5x\n", `7:7: services[0].health.interval: invalid duration "5x" (want e.g. 2s, 500ms)`},
		{"duration without unit", processBase + "    drain_timeout: 30\n", "6:5: services[0].drain_timeout: invalid duration 30: a number needs a unit"},
		{"negative duration", processBase + "    stop_grace: -1s\n", "6:5: services[0].stop_grace: duration -1s must not be negative"},
		{"list wanted", "services:\n  - name: web\n    hosts: example.com\n    runtime: process\n    process: {command: [./web, \"{port}\"]}\n", `3:5: services[0].hosts: want a list, got the string "example.com"`},
		{"bool wanted", processBase + "control:\n  metrics: \"yes\"\n", `7:3: control.metrics: want true or false`},
		{"int wanted", dockerBase + "      keep_images: many\n", `8:7: services[0].docker.keep_images: want a whole number`},
		{"mapping wanted", processBase + "    health: 5s\n", "6:5: services[0].health: want a mapping of keys"},
		{"no services", "state_dir: /tmp/x\n", "services: at least one service is required"},
		{"missing runtime", "services:\n  - name: web\n    hosts: [example.com]\n", "2:5: services[0].runtime: required (process or docker)"},
		{"tls without certificates", processBase + "proxy:\n  tls: {listen: \":8443\"}\n", "7:3: proxy.tls: needs acme, certificates or both"},
		{"tls min version", processBase + "proxy:\n  tls:\n    acme: {}\n    min_version: \"1.0\"\n", `9:5: proxy.tls.min_version: "1.0" is not one of 1.2, 1.3`},
		{"tls same port", processBase + "proxy:\n  listen: \":8443\"\n  tls:\n    listen: \":8443\"\n    acme: {}\n", `9:5: proxy.tls.listen: ":8443" is also proxy.listen`},
		{"acme directory", processBase + "proxy:\n  tls:\n    acme: {directory_url: \"http://ca.test/dir\"}\n", `8:12: proxy.tls.acme.directory_url: "http://ca.test/dir" must be an https:// URL`},
		{"cert file missing", processBase + "proxy:\n  tls:\n    certificates:\n      - {cert: /nonexistent/c.pem, key: /dev/null}\n", `9:10: proxy.tls.certificates[0].cert: cannot read: open /nonexistent/c.pem: no such file`},
		{"redirect without tls", processBase + "    redirect_http: true\n", "6:5: services[0].redirect_http: needs proxy.tls"},
		{"unknown runtime", "services:\n  - name: web\n    hosts: [example.com]\n    runtime: lambda\n", `4:5: services[0].runtime: "lambda" is not one of process, docker`},
		{"missing process block", "services:\n  - name: web\n    hosts: [example.com]\n    runtime: process\n", "2:5: services[0].process: required with runtime: process"},
		{"other runtime block", processBase + "    docker: {image: x, port: 1}\n", "6:5: services[0].docker: not allowed with runtime: process"},
		{"bad name", "services:\n  - name: Web_1\n    hosts: [example.com]\n    runtime: process\n    process: {command: [./web, \"{port}\"]}\n", `2:5: services[0].name: "Web_1" must be lowercase letters`},
		{"duplicate name", processBase + "  - name: web\n    hosts: [other.com]\n    runtime: process\n    process: {command: [./web, \"{port}\"]}\n", `6:5: services[1].name: "web" is already the name of services[0]`},
		{"duplicate route", processBase + "  - name: web2\n    hosts: [other.com, example.com]\n    runtime: process\n    process: {command: [./web, \"{port}\"]}\n", `7:24: services[1].hosts[1]: host example.com is already routed to service "web"`},
		{"uppercase host", "services:\n  - name: web\n    hosts: [Example.com]\n    runtime: process\n    process: {command: [./web, \"{port}\"]}\n", `3:13: services[0].hosts[0]: "Example.com" must be lowercase`},
		{"host with port", "services:\n  - name: web\n    hosts: [\"a.com:80\"]\n    runtime: process\n    process: {command: [./web, \"{port}\"]}\n", `3:13: services[0].hosts[0]: "a.com:80": write the host without a port`},
		{"path prefix", processBase + "    path_prefix: api\n", `6:5: services[0].path_prefix: "api" must start with /`},
		{"version pattern", processBase + "    version_pattern: \"(\"\n", "6:5: services[0].version_pattern: version pattern"},
		{"no port placeholder", "services:\n  - name: web\n    hosts: [example.com]\n    runtime: process\n    process:\n      command: ./web --serve\n", "6:7: services[0].process.command: {port} appears neither here nor in env"},
		{"unknown placeholder", processBase + "    env: {NAME: \"{prot}\"}\n", "6:11: services[0].env.NAME: unknown placeholder {prot}"},
		{"quoted command", "services:\n  - name: web\n    hosts: [example.com]\n    runtime: process\n    process:\n      command: ./web --name \"my app\" {port}\n", "6:7: services[0].process.command: command"},
		{"bad env name", processBase + "    env: {\"A-B\": x}\n", `6:11: services[0].env.A-B: "A-B" is not an environment variable name`},
		{"canary with bluegreen", processBase + "    canary:\n      steps: [{weight: 10, duration: 1m}]\n", "6:5: services[0].canary: only allowed with strategy: canary"},
		{"canary without steps", processBase + "    strategy: canary\n", "2:5: services[0].canary.steps: required with strategy: canary"},
		{"canary weights", processBase + "    strategy: canary\n    canary:\n      steps:\n        - {weight: 50, duration: 1m}\n        - {weight: 20, duration: 1m}\n", "10:12: services[0].canary.steps[1].weight: 20: weights must increase (previous step: 50)"},
		{"canary weight 100", processBase + "    strategy: canary\n    canary:\n      steps: [{weight: 100, duration: 1m}]\n", "8:16: services[0].canary.steps[0].weight: 100: want a percentage above 0 and below 100"},
		{"canary step duration", processBase + "    strategy: canary\n    canary:\n      steps: [{weight: 10}]\n", "8:16: services[0].canary.steps[0].duration: must be positive"},
		{"unknown strategy", processBase + "    strategy: rolling\n", `6:5: services[0].strategy: "rolling" is not one of bluegreen, canary`},
		{"bake longer than warm", processBase + "    warm_for: 1m\n    analysis: {bake: 2m}\n", "7:16: services[0].analysis.bake: bake 2m0s is longer than warm_for 1m0s"},
		{"error rate fraction", processBase + "    analysis:\n      max_error_rate: 5\n", "7:7: services[0].analysis.max_error_rate: 5: want a fraction from 0 to 1"},
		{"health timeout", processBase + "    health: {timeout: 5s, deadline: 2s, healthy_threshold: 1}\n", "6:14: services[0].health.timeout: 5s is longer than deadline 2s"},
		{"health deadline", processBase + "    health:\n      start_interval: 10s\n      deadline: 15s\n", "8:7: services[0].health.deadline: 15s cannot fit 3 consecutive passes 10s (start_interval) apart"},
		{"health start timeout", processBase + "    health:\n      start_timeout: 20s\n      deadline: 15s\n", "7:7: services[0].health.start_timeout: 20s is longer than deadline 15s"},
		{"health threshold", processBase + "    health:\n      healthy_threshold: 0\n", "7:7: services[0].health.healthy_threshold: must be at least 1"},
		{"health path", processBase + "    health: {path: health}\n", `6:14: services[0].health.path: "health" must start with /`},
		{"hook placeholder", processBase + "    hooks:\n      pre_traffic: [[./migrate, \"{relase}\"]]\n", "7:33: services[0].hooks.pre_traffic[0][1]: unknown placeholder {relase}"},
		{"empty hook", processBase + "    hooks:\n      pre_traffic: [[]]\n", "7:21: services[0].hooks.pre_traffic[0]: required: the program and its arguments"},
		{"preview header", processBase + "    preview: {header: \"X Preview\"}\n", `6:15: services[0].preview.header: "X Preview" is not a valid header name`},
		{"image tag", dockerBase + "      labels: {}\n", ""},
		{"image with tag", "services:\n  - name: api\n    hosts: [example.com]\n    runtime: docker\n    docker:\n      image: ghcr.io/acme/api:v1\n      port: 3000\n", `6:7: services[0].docker.image: "ghcr.io/acme/api:v1": leave out the tag`},
		{"image uppercase", "services:\n  - name: api\n    hosts: [example.com]\n    runtime: docker\n    docker:\n      image: ghcr.io/Acme/api\n      port: 3000\n", `6:7: services[0].docker.image: "ghcr.io/Acme/api" is not an image repository`},
		{"docker port missing", "services:\n  - name: api\n    hosts: [example.com]\n    runtime: docker\n    docker:\n      image: acme/api\n", "5:5: services[0].docker.port: required"},
		{"bad size", dockerBase + "      memory: 5q\n", `8:7: services[0].docker.memory: invalid size "5q" (want e.g. 512m, 1g, 1MiB)`},
		{"tiny memory", dockerBase + "      memory: 1m\n", "8:7: services[0].docker.memory: 1MiB is below Docker's minimum of 6m"},
		{"reserved label", dockerBase + "      labels: {hotswap.service: x}\n", `8:16: services[0].docker.labels["hotswap.service"]: label keys starting with hotswap. are reserved`},
		{"reach", dockerBase + "      reach: bridge\n", `8:7: services[0].docker.reach: "bridge" is not one of auto, host, network`},
		{"stop signal", dockerBase + "      stop_signal: TERM\n", `8:7: services[0].docker.stop_signal: "TERM" is not one of SIGTERM`},
		{"volume", dockerBase + "      volumes: [data]\n", `8:17: services[0].docker.volumes[0]: "data" is not source:/container/path`},
		{"registry password", dockerBase + "      registry_auth: {username: bot}\n", "8:7: services[0].docker.registry_auth.password: required (set password_env, password_file or password)"},
		{"proxy listen", processBase + "proxy:\n  listen: \"8080\"\n", `7:3: proxy.listen: "8080" is not host:port`},
		{"ready service unknown", processBase + "proxy:\n  ready_services: [web, shop]\n", `7:25: proxy.ready_services[1]: no service is named "shop"`},
		{"ready path", processBase + "proxy:\n  ready_path: ready\n", `7:3: proxy.ready_path: "ready" must start with / and differ from health_path`},
		{"send timeout", processBase + "proxy:\n  send_timeout: 0s\n", "7:3: proxy.send_timeout: must be positive"},
		{"preview secret short", processBase + "    preview: {secret: short}\n", "6:15: services[0].preview.secret: shorter than 16 characters"},
		{"listen without tokens", processBase + "control:\n  listen: 127.0.0.1:9090\n", "7:3: control.listen: needs at least one entry in control.tokens"},
		{"tokens without listen", processBase + "control:\n  tokens: [{name: ci, token_env: TOKEN}]\n", "7:3: control.tokens: tokens are only used by control.listen, which is not set"},
		{"token env unset", processBase + "control:\n  listen: :9090\n  tokens:\n    - name: ci\n      token_env: NOPE\n", "10:7: control.tokens[0].token_env: environment variable NOPE is not set"},
		{"token env empty", processBase + "control:\n  listen: :9090\n  tokens:\n    - name: ci\n      token_env: EMPTY_VAR\n", "10:7: control.tokens[0].token_env: environment variable EMPTY_VAR is empty"},
		{"token short", processBase + "control:\n  listen: :9090\n  tokens:\n    - name: ci\n      token_env: SHORT\n", "10:7: control.tokens[0].token: shorter than 16 characters (from env SHORT)"},
		{"token twice", processBase + "control:\n  listen: :9090\n  tokens:\n    - name: ci\n      token_env: TOKEN\n      token: abcdefabcdefabcdefabcdef\n", "11:7: control.tokens[0].token: set only one of token, token_env, token_file"},
		{"token file missing", processBase + "control:\n  listen: :9090\n  tokens:\n    - {name: ci, token_file: /nonexistent/hotswap.token}\n", "9:18: control.tokens[0].token_file: read secret: open /nonexistent/hotswap.token"},
		{"token name", processBase + "control:\n  listen: :9090\n  tokens:\n    - {token_env: TOKEN}\n", "9:8: control.tokens[0].name: required"},
		{"same token twice", processBase + "control:\n  listen: :9090\n  tokens:\n    - {name: a, token_env: TOKEN}\n    - {name: b, token_env: TOKEN}\n", "10:17: control.tokens[1].token: same token as control.tokens[0]"},
		{"webhooks need listen", processBase + "webhooks:\n  github: {secret_env: HOOK}\n", "6:1: webhooks: webhooks arrive on control.listen, which is not set"},
		{"webhook secret", listenBase + "webhooks:\n  generic: {window: 1m}\n", "10:3: webhooks.generic.secret: required (set secret_env, secret_file or secret)"},
		{"token role", processBase + "control:\n  listen: 127.0.0.1:9090\n  tokens: [{name: ci, token_env: TOKEN, role: admin}]\n", `8:41: control.tokens[0].role: "admin" is not a role (want viewer or deployer)`},
		{"dashboard without listen", processBase + "dashboard: {enabled: true}\n", "6:13: dashboard.enabled: the dashboard is served on control.listen, which is not set"},
		{"dashboard commit url scheme", listenBase + "dashboard:\n  commit_url: \"javascript:alert(1)//{commit}\"\n", `10:3: dashboard.commit_url: "javascript:alert(1)//{commit}" must be an absolute http or https URL`},
		{"dashboard commit url placeholder", listenBase + "dashboard:\n  commit_url: https://example.com/c\n", "10:3: dashboard.commit_url: \"https://example.com/c\" must contain {commit}"},
		{"dashboard public url", listenBase + "dashboard:\n  public_url: /ui/\n", `10:3: dashboard.public_url: "/ui/" must be an absolute http or https URL`},
		{"dockerhub token chars", listenBase + "webhooks:\n  dockerhub: {path_token: \"abc/def/ghi/jkl/mno\"}\n", "10:15: webhooks.dockerhub.path_token: may hold only letters, digits and -._~"},
		{"service webhooks", processBase + "    webhooks:\n      github: {}\n" + listenBase[len(processBase):], "7:7: services[0].webhooks.github.secret: required"},
		{"notify kind", processBase + "notify:\n  - kind: email\n    url: https://x.example\n", `7:5: notify[0].kind: "email" is not one of slack, discord, webhook`},
		{"notify event", processBase + "notify:\n  - kind: slack\n    url: https://x.example\n    events: [started, finished]\n", `9:23: notify[0].events[1]: unknown event "finished"`},
		{"notify url", processBase + "notify:\n  - kind: slack\n    url: ftp://secret-host/abc\n", "8:5: notify[0].url: not an http:// or https:// URL (from inline)"},
		{"unknown alias", processBase + "    health: *nope\n", "6:5: services[0].health: alias *nope refers to no earlier anchor &nope"},
		{"two documents", processBase + "---\nstate_dir: /x\n", "7:1: the file holds 2 YAML documents"},
		{"syntax", "services:\n  - name: [web\n", "2:11: sequence end token ']' not found"},
		{"duplicate key", "state_dir: /a\nstate_dir: /b\n", `2:1: mapping key "state_dir" already defined at [1:1]`},
		{"not a mapping", "- a\n- b\n", `1:1: want a mapping of keys, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse("bad.yaml", []byte(tt.yaml), lookup(testEnv))
			if tt.want == "" { // cases that must pass
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not match ErrInvalid: %v", err)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want Errors", err)
			}
			if len(es) != 1 {
				t.Errorf("got %d errors, want 1:\n%v", len(es), err)
			}
			want := "bad.yaml:" + tt.want
			if !strings.Contains(tt.want, ":") || strings.HasPrefix(tt.want, "services:") {
				want = "bad.yaml: " + tt.want
			}
			if !strings.HasPrefix(es[0].Error(), want) {
				t.Errorf("got  %q\nwant prefix %q", es[0].Error(), want)
			}
		})
	}
}

// TestAllErrorsReported checks that problems are collected, not stopped at
// the first, and come back in file order.
func TestAllErrorsReported(t *testing.T) {
	src := `services:
  - name: web
    hosts: [example.com]
    runtime: process
    process: {command: [./web, "{port}"]}
    helth: {}
    health:
      interval: 5x
  - name: web
    hosts: [example.com]
    runtime: docker
proxy:
  listen: nope
`
	_, err := parse("multi.yaml", []byte(src), lookup(nil))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v is not Errors", err)
	}
	want := []string{
		"multi.yaml:6:5: services[0].helth: unknown key",
		"multi.yaml:8:7: services[0].health.interval: invalid duration",
		"multi.yaml:9:5: services[1].docker: required with runtime: docker",
		"multi.yaml:9:5: services[1].name: \"web\" is already the name of services[0]",
		"multi.yaml:10:13: services[1].hosts[0]: host example.com is already routed",
		"multi.yaml:13:3: proxy.listen: \"nope\" is not host:port",
	}
	if len(es) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(es), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(es[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, es[i].Error(), w)
		}
	}
}
