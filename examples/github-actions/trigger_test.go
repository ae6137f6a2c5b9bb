// Package githubactions holds the tests of the GitHub Actions example. The
// example is a shell script and two workflows, so the tests are what keeps
// them honest: they run scripts/hotswap-trigger.sh, exactly as the workflows
// do, against a real hotswap daemon serving the real sample app, and check
// what went live — not what the script printed.
package githubactions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/daemon"
	"github.com/hotswap/hotswap/internal/release"

	"github.com/hotswap/hotswap/internal/sampleapp/sampletest"
)

// sampleBin is the sample app, built once for every test in this package.
var sampleBin string

func TestMain(m *testing.M) {
	sampletest.Main(m, func(bins ...string) { sampleBin = bins[0] }, sampletest.SampleApp)
}

// The secrets the daemon is configured with; the tests assert neither ever
// appears in the script's output.
const (
	testToken  = "tok-3f9c1d7e5a2b4c6d8e0f1a2b"
	testSecret = "whsec-8b7a6c5d4e3f2a1b0c9d8e7f"
	wrongToken = "tok-00000000000000000000wrong"
	wrongHook  = "whsec-0000000000000000000wrong"
)

// daemonYAML is the daemon the script talks to: the layout of hotswap.yaml
// in this directory (token_env, webhooks.generic.secret_env), on loopback
// ports, with the sample app as a local process. "shop" bakes each deploy
// so that a release can go live and still be rolled back after its switch.
const daemonYAML = `state_dir: %[1]q
proxy:
  listen: 127.0.0.1:0
control:
  socket: %[2]q
  listen: 127.0.0.1:0
  tokens:
    - name: github-actions
      token_env: HS_EXAMPLE_TOKEN
webhooks:
  generic:
    secret_env: HS_EXAMPLE_WEBHOOK_SECRET
services:
  - name: web
    hosts: [web.test]
    runtime: process
    process:
      command: [%[3]q, --port, "{port}", --version, "{version}"]
    health: {path: /health, interval: 50ms, timeout: 1s, healthy_threshold: 2, deadline: 3s}
    drain_timeout: 2s
    stop_grace: 2s
    warm_for: 1m
  - name: shop
    hosts: [shop.test]
    runtime: process
    process:
      command: [%[3]q, --port, "{port}", --version, "{version}"]
    health: {path: /health, interval: 50ms, timeout: 1s, healthy_threshold: 1, deadline: 3s}
    drain_timeout: 2s
    stop_grace: 2s
    warm_for: 1m
    analysis: {interval: 200ms, min_requests: 10, max_error_rate: 0.05, bake: 2s}
`

// harness is one running daemon and the environment the script runs in.
// Tests run its subtests in order: each builds on the state the previous
// one left, like the pushes of a real repository.
type harness struct {
	d   *daemon.Daemon
	env map[string]string // the CI job's environment, before per-run overrides
}

// requireTools skips, saying what is missing, when the script's tools are
// absent. Nothing is installed from here: CI installs them with apt-get.
func requireTools(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range []string{"bash", "curl", "openssl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Skipf("scripts/hotswap-trigger.sh needs bash, curl, openssl and jq; missing: %s "+
			"(install with: apt-get install -y %s)", strings.Join(missing, ", "), strings.Join(missing, " "))
	}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	t.Setenv("HS_EXAMPLE_TOKEN", testToken)
	t.Setenv("HS_EXAMPLE_WEBHOOK_SECRET", testSecret)
	dir := t.TempDir()
	cfg, err := config.Parse("test.yaml", []byte(fmt.Sprintf(daemonYAML, dir, filepath.Join(dir, "hs.sock"), sampleBin)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := daemon.New(ctx, cfg, daemon.Options{StopOnClose: true, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("new daemon: %v", err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Close(cctx); err != nil {
			t.Errorf("close daemon: %v", err)
		}
	})
	return &harness{d: d, env: map[string]string{
		"PATH":                   os.Getenv("PATH"),
		"HOME":                   t.TempDir(),
		"LANG":                   "C.UTF-8",
		"HOTSWAP_URL":            "http://" + d.ControlAddr(),
		"HOTSWAP_WEBHOOK_SECRET": testSecret,
		"HOTSWAP_TOKEN":          testToken,
		"HOTSWAP_TIMEOUT":        "60",
	}}
}

// result is one run of the script.
type result struct {
	code int
	out  string // stdout and stderr, interleaved
}

// run runs the script as a workflow step does. env overrides the job's
// environment; an empty value removes the variable.
func (h *harness) run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"scripts/hotswap-trigger.sh"}, args...)...)
	merged := map[string]string{}
	for k, v := range h.env {
		merged[k] = v
	}
	for k, v := range env {
		merged[k] = v
	}
	for k, v := range merged {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	res := result{out: string(out)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run script %v: %v\n%s", args, err, out)
	}
	t.Logf("$ hotswap-trigger.sh %s  → exit %d\n%s", strings.Join(args, " "), res.code, out)
	for _, secret := range []string{testToken, testSecret, wrongToken, wrongHook} {
		if strings.Contains(res.out, secret) {
			t.Errorf("the script's output contains a secret (%.8s…)", secret)
		}
	}
	return res
}

// live asks the proxy, as a client would, which version of service answers.
func (h *harness) live(t *testing.T, service string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+h.d.ProxyAddr()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = service + ".test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("request through the proxy: %v", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return resp.Header.Get("X-Version")
}

// releases is the service's history from the store, newest first.
func (h *harness) releases(t *testing.T, service string) []release.Release {
	t.Helper()
	rels, err := h.d.Store().ListReleases(context.Background(), service, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return rels
}

// expect checks a run's exit code and that its output matches every pattern.
func expect(t *testing.T, r result, code int, patterns ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d; output:\n%s", r.code, code, r.out)
	}
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(r.out) {
			t.Errorf("output does not match %q:\n%s", p, r.out)
		}
	}
}

// TestTriggerScript drives a service through what the two workflows do —
// deploys from pushes, a redelivery, a broken version, every kind of refused
// request, and rollbacks — checking after each step which version really
// answers through the proxy and what the release history holds.
func TestTriggerScript(t *testing.T) {
	requireTools(t)
	h := newHarness(t)

	var failedID int64
	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"deploy v1 from a push", func(t *testing.T) {
			outputs := filepath.Join(t.TempDir(), "github_output")
			r := h.run(t, map[string]string{"GITHUB_OUTPUT": outputs},
				"deploy", "web", "v1", "--note", `first "release"; $(rm -rf /)`, "--commit", "3f2c1ab", "--author", "alice", "--delivery", "111-1")
			expect(t, r, 0, `deploy web v1 accepted: release #\d+`, `health`, `✓ web v1 is live`)
			if got := h.live(t, "web"); got != "v1" {
				t.Fatalf("live version %q, want v1", got)
			}
			rel := h.releases(t, "web")[0]
			if rel.Version != "v1" || rel.State != release.Live || rel.Source.Kind != release.SourceWebhook ||
				rel.Source.WebhookKind != "generic" || rel.Source.DeliveryID != "111-1" ||
				rel.Note != `first "release"; $(rm -rf /)` || rel.GitCommit != "3f2c1ab" || rel.Author != "alice" {
				t.Errorf("release on record: %+v", rel)
			}
			b, err := os.ReadFile(outputs)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{fmt.Sprintf("release_id=%d\n", rel.ID), "state=live\n", "version=v1\n"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("GITHUB_OUTPUT %q lacks %q", b, want)
				}
			}
		}},
		{"deploy v2 from the next push, traced", func(t *testing.T) {
			// xtrace from the environment (as bash -x would) must not
			// print the secrets: run checks every output for them.
			expect(t, h.run(t, map[string]string{"SHELLOPTS": "xtrace"}, "deploy", "web", "v2", "--delivery", "222-1"), 0, `✓ web v2 is live`)
			if got := h.live(t, "web"); got != "v2" {
				t.Fatalf("live version %q, want v2", got)
			}
		}},
		{"a retried delivery is the same deploy", func(t *testing.T) {
			before := len(h.releases(t, "web"))
			expect(t, h.run(t, nil, "deploy", "web", "v2", "--delivery", "222-1"), 0, `already received`, `✓ web v2 is live`)
			if after := len(h.releases(t, "web")); after != before {
				t.Errorf("%d releases after the redelivery, want %d", after, before)
			}
		}},
		{"a version that never gets healthy fails the job", func(t *testing.T) {
			r := h.run(t, map[string]string{"GITHUB_ACTIONS": "true"}, "deploy", "web", "v3-unhealthy", "--delivery", "333-1")
			expect(t, r, 1, `✗ deploy web v3-unhealthy: failed`, `previous version keeps serving`, `(?m)^::error::deploy web v3-unhealthy: failed`)
			if got := h.live(t, "web"); got != "v2" {
				t.Errorf("live version %q after the failed deploy, want v2", got)
			}
			rel := h.releases(t, "web")[0]
			if rel.Version != "v3-unhealthy" || rel.State != release.Failed {
				t.Fatalf("newest release %s %s, want v3-unhealthy failed", rel.Version, rel.State)
			}
			failedID = rel.ID
		}},
		{"wait on a failed release exits 1", func(t *testing.T) {
			expect(t, h.run(t, nil, "wait", fmt.Sprint(failedID)), 1, `v3-unhealthy: failed`)
		}},
		{"refused requests change nothing", func(t *testing.T) {
			refused := []struct {
				name string
				env  map[string]string
				args []string
				code int
				out  string
			}{
				{"wrong webhook secret", map[string]string{"HOTSWAP_WEBHOOK_SECRET": wrongHook}, []string{"deploy", "web", "v4"}, 6, `HTTP 401.*HOTSWAP_WEBHOOK_SECRET`},
				{"no webhook secret", map[string]string{"HOTSWAP_WEBHOOK_SECRET": ""}, []string{"deploy", "web", "v4"}, 2, `HOTSWAP_WEBHOOK_SECRET is not set`},
				{"unknown service", nil, []string{"deploy", "nope", "v4"}, 4, `HTTP 404`},
				{"invalid version", nil, []string{"deploy", "web", "v4 && reboot"}, 2, `HTTP 400`},
				{"invalid delivery id", nil, []string{"deploy", "web", "v4", "--delivery", "a b"}, 2, `delivery id`},
				{"daemon unreachable", map[string]string{"HOTSWAP_URL": "http://127.0.0.1:1", "HOTSWAP_RETRIES": "1"}, []string{"deploy", "web", "v4"}, 5, `(?s)curl: \(7\).*curl: \(7\).*no answer from http://127.0.0.1:1/hooks/generic/web`},
				{"rollback with a wrong token", map[string]string{"HOTSWAP_TOKEN": wrongToken}, []string{"rollback", "web"}, 6, `HTTP 401.*HOTSWAP_TOKEN`},
				{"rollback without a token", map[string]string{"HOTSWAP_TOKEN": ""}, []string{"rollback", "web"}, 2, `HOTSWAP_TOKEN is not set`},
				{"rollback to the live version", nil, []string{"rollback", "web", "v2"}, 7, `HTTP 409`},
				{"rollback to a version never live", nil, []string{"rollback", "web", "v3-unhealthy"}, 4, `HTTP 404`},
				{"unknown mode", nil, []string{"redeploy", "web"}, 2, `unknown mode`},
			}
			for _, c := range refused {
				t.Run(c.name, func(t *testing.T) {
					before := h.releases(t, "web")
					expect(t, h.run(t, c.env, c.args...), c.code, c.out)
					if after := h.releases(t, "web"); len(after) != len(before) || after[0].State != before[0].State {
						t.Errorf("the refused request changed the history: %d releases (newest %s), was %d (%s)",
							len(after), after[0].State, len(before), before[0].State)
					}
					if got := h.live(t, "web"); got != "v2" {
						t.Errorf("live version %q, want v2 still", got)
					}
				})
			}
		}},
		{"roll back to the previous good release", func(t *testing.T) {
			r := h.run(t, nil, "rollback", "web", "--note", "v2 breaks checkout")
			expect(t, r, 0, `rollback web to v1 accepted`, `✓ web v1 is live \(rollback`)
			if got := h.live(t, "web"); got != "v1" {
				t.Fatalf("live version %q after the rollback, want v1", got)
			}
			rel := h.releases(t, "web")[0]
			if rel.Kind != release.KindRollback || rel.Source.Actor != "github-actions" || rel.Note != "v2 breaks checkout" {
				t.Errorf("rollback on record: kind %s actor %q note %q", rel.Kind, rel.Source.Actor, rel.Note)
			}
		}},
		{"roll back to a named version", func(t *testing.T) {
			expect(t, h.run(t, nil, "rollback", "web", "v2"), 0, `rollback web to v2 accepted`, `✓ web v2 is live`)
			if got := h.live(t, "web"); got != "v2" {
				t.Fatalf("live version %q, want v2", got)
			}
		}},
		{"releases lists the history", func(t *testing.T) {
			expect(t, h.run(t, nil, "releases", "web", "--limit", "20"), 0,
				`(?m)^\d+\s+v1\s+\S+\s+deploy`, `(?m)^\d+\s+v3-unhealthy\s+failed\s`, `(?m)^\d+\s+v1\s+\S+\s+rollback\s.*v2 breaks checkout`)
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			t.Fatalf("step %q failed; the later steps depend on it", s.name)
		}
	}
}

// TestTriggerWaitsOutTheBake: a version that passes its health check and
// goes live, then fails its bake analysis under traffic, is rolled back by
// hotswap after the switch. The script must still be waiting then, and fail
// the job; a script that stopped at "live" would have reported success.
func TestTriggerWaitsOutTheBake(t *testing.T) {
	requireTools(t)
	h := newHarness(t)
	expect(t, h.run(t, nil, "deploy", "shop", "v1", "--delivery", "1-1"), 0, `✓ shop v1 is live`)

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	for i := 0; i < 2; i++ { // traffic for the analysis to judge
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.d.ProxyAddr()+"/", nil)
				req.Host = "shop.test"
				if resp, err := http.DefaultClient.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	r := h.run(t, nil, "deploy", "shop", "v2-errors", "--delivery", "2-1")
	expect(t, r, 1, `done\s+deploy shop v2-errors is live`, `bake`, `automatic rollback`, `✗ deploy shop v2-errors: rolled_back`)
	stop()
	if got := h.live(t, "shop"); got != "v1" {
		t.Errorf("live version %q after the bake failed, want v1", got)
	}
}
