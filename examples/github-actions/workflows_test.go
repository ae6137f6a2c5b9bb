package githubactions

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/hotswap/hotswap/internal/config"
)

// workflow is the part of a GitHub Actions workflow these checks read.
type workflow struct {
	On   map[string]any `yaml:"on"`
	Jobs map[string]struct {
		Steps []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			Env  map[string]string `yaml:"env"`
			With map[string]any    `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

func readWorkflow(t *testing.T, path string) (workflow, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(w.Jobs) == 0 {
		t.Fatalf("%s: no jobs", path)
	}
	return w, string(b)
}

// documentedSecrets are the repository secrets README.md tells users to
// create; GITHUB_TOKEN is GitHub's own.
var documentedSecrets = []string{"HOTSWAP_URL", "HOTSWAP_WEBHOOK_SECRET", "HOTSWAP_TOKEN"}

// TestWorkflowsAreSafeAndConsistent checks what a reader copying the
// workflows relies on: the triggers and inputs the README promises, every
// secret documented, the script they call present, and no ${{ }} expression
// inside a run: script, where a branch name, commit message or dispatch
// input could inject shell code (they must arrive through env: instead).
func TestWorkflowsAreSafeAndConsistent(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range documentedSecrets {
		if !strings.Contains(string(readme), s) {
			t.Errorf("README.md does not document the secret %s", s)
		}
	}
	secretRef := regexp.MustCompile(`secrets\.([A-Za-z0-9_]+)`)
	for _, path := range []string{"deploy.yml", "rollback.yml"} {
		t.Run(path, func(t *testing.T) {
			w, raw := readWorkflow(t, path)
			for _, m := range secretRef.FindAllStringSubmatch(raw, -1) {
				if m[1] != "GITHUB_TOKEN" && !slices.Contains(documentedSecrets, m[1]) {
					t.Errorf("uses secret %s, which README.md does not document", m[1])
				}
			}
			calls := 0
			for job, j := range w.Jobs {
				for i, s := range j.Steps {
					if strings.Contains(s.Run, "${{") {
						t.Errorf("job %s step %d (%s): ${{ }} inside run: — pass values through env:", job, i, s.Name)
					}
					if strings.Contains(s.Run, "scripts/hotswap-trigger.sh") {
						calls++
						if !strings.Contains(s.Run, "set -euo pipefail") && strings.Count(s.Run, "\n") > 1 {
							t.Errorf("job %s step %d (%s): multi-line script without set -euo pipefail", job, i, s.Name)
						}
						for _, v := range []string{"HOTSWAP_URL", "HOTSWAP_TOKEN"} {
							if s.Env[v] != "${{ secrets."+v+" }}" {
								t.Errorf("job %s step %d (%s): env %s = %q, want it from the secret", job, i, s.Name, v, s.Env[v])
							}
						}
					}
				}
			}
			if calls == 0 {
				t.Error("no step calls scripts/hotswap-trigger.sh")
			}
		})
	}
	if _, err := os.Stat("scripts/hotswap-trigger.sh"); err != nil {
		t.Error(err)
	}

	deploy, _ := readWorkflow(t, "deploy.yml")
	push, _ := deploy.On["push"].(map[string]any)
	if !slices.Equal(strs(push["branches"]), []string{"main"}) || !slices.Equal(strs(push["tags"]), []string{"v*"}) {
		t.Errorf("deploy.yml runs on %v, want pushes to main and v* tags", deploy.On)
	}
	var signed bool
	for _, s := range deploy.Jobs["deploy"].Steps {
		if strings.Contains(s.Run, "hotswap-trigger.sh deploy") {
			signed = s.Env["HOTSWAP_WEBHOOK_SECRET"] == "${{ secrets.HOTSWAP_WEBHOOK_SECRET }}" &&
				s.Env["DELIVERY"] == "${{ github.run_id }}-${{ github.run_attempt }}" && strings.Contains(s.Run, `--delivery "$DELIVERY"`)
		}
	}
	if !signed {
		t.Error("deploy.yml: the deploy step must sign with HOTSWAP_WEBHOOK_SECRET and send run_id-run_attempt as the delivery id")
	}

	rollback, _ := readWorkflow(t, "rollback.yml")
	dispatch, _ := rollback.On["workflow_dispatch"].(map[string]any)
	inputs, _ := dispatch["inputs"].(map[string]any)
	for _, in := range []string{"version", "note"} {
		spec, _ := inputs[in].(map[string]any)
		if spec == nil || spec["required"] != false {
			t.Errorf("rollback.yml: input %q missing or required: %v", in, inputs)
		}
	}
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// TestExampleConfigIsValid: the hotswap.yaml the README shows is accepted by
// the real config loader, and serves what the workflows call: a TCP
// listener, a bearer token and a generic webhook secret for the service.
func TestExampleConfigIsValid(t *testing.T) {
	t.Setenv("HOTSWAP_TOKEN", testToken)
	t.Setenv("HOTSWAP_WEBHOOK_SECRET", testSecret)
	t.Setenv("GHCR_TOKEN", "ghp_examplexxxxxxxxxxxxxxxxxxxx")
	b, err := os.ReadFile("hotswap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("hotswap.yaml", b)
	if err != nil {
		t.Fatalf("hotswap.yaml: %v", err)
	}
	if cfg.Control.Listen == "" || len(cfg.Control.Tokens) != 1 || cfg.Control.Tokens[0].Token.Value() != testToken {
		t.Errorf("control: %+v, want a listener and the HOTSWAP_TOKEN token", cfg.Control)
	}
	svc, ok := cfg.Service("web")
	if !ok {
		t.Fatal("no service web (SERVICE in the workflows)")
	}
	if g := cfg.WebhooksFor(svc).Generic; g == nil || g.Secret.Value() != testSecret {
		t.Error("service web has no generic webhook secret from HOTSWAP_WEBHOOK_SECRET")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"token_env: HOTSWAP_TOKEN", "secret_env: HOTSWAP_WEBHOOK_SECRET", "listen: 127.0.0.1:9090"} {
		if !strings.Contains(string(readme), line) {
			t.Errorf("README.md's config snippet lacks %q", line)
		}
	}
}
