package webhooktest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/webhook"
)

// Run is the webhook suite: real signed HTTP requests to a real server in
// front of a webhook.Handler whose Enqueuer comes from newEnqueuer. Every
// rejection asserts that Enqueue was not called; every request is checked
// to be audited exactly once and without secrets.
func Run(t *testing.T, newEnqueuer NewEnqueuer) {
	t.Run("Requests", func(t *testing.T) { runCases(t, newEnqueuer) })
	t.Run("GitHubRedelivery", func(t *testing.T) { testGitHubRedelivery(t, newEnqueuer) })
	t.Run("GenericReplay", func(t *testing.T) { testGenericReplay(t, newEnqueuer) })
	t.Run("DockerHubResend", func(t *testing.T) { testDockerHubResend(t, newEnqueuer) })
	t.Run("DeliveryScopedToService", func(t *testing.T) { testDeliveryPerService(t, newEnqueuer) })
	t.Run("ConcurrentDuplicates", func(t *testing.T) { testConcurrentDuplicates(t, newEnqueuer) })
	t.Run("ConcurrentReplays", func(t *testing.T) { testConcurrentReplays(t, newEnqueuer) })
}

// want is what an accepted request must have become.
type want struct {
	service, version, event, delivery string
	kind                              webhook.Kind
	deliveryPrefix                    string // when the id is derived
	author, commit, note              string // checked when non-empty
}

type hookCase struct {
	name    string
	build   func(f *fixture) hook
	status  int
	outcome webhook.Outcome
	// accepted requests
	want *want
	// rejections: a substring of the error body
	errContains string
	// enqueueCalled is true only when the Enqueuer itself rejects.
	enqueueCalled bool
}

func pkg(owner, name, tag string) []byte {
	return PackageEvent{Owner: owner, Name: name, Tag: tag}.JSON()
}

func cases() []hookCase {
	webPkg := pkg("acme", "web", "v1.2.3")
	oversize := []byte(`{"version":"v1","note":"` + strings.Repeat("x", MaxBody) + `"}`)
	ok := webhook.OutcomeAccepted
	ign := webhook.OutcomeIgnored
	rej := webhook.OutcomeRejected
	return []hookCase{
		// GitHub: events that deploy.
		{name: "github package published", status: 202, outcome: ok,
			build: func(f *fixture) hook { return f.github("web", webGitHubSecret, "package", "d-1", webPkg) },
			want:  &want{service: "web", version: "v1.2.3", kind: webhook.KindGitHub, event: "package", delivery: "d-1", author: "octocat"}},
		{name: "github registry_package published", status: 202, outcome: ok,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "registry_package", "d-2",
					PackageEvent{Event: "registry_package", Owner: "acme", Name: "web", Tag: "1.4.0"}.JSON())
			},
			want: &want{service: "web", version: "1.4.0", kind: webhook.KindGitHub, event: "registry_package", delivery: "d-2"}},
		{name: "github package without owner or url matches by name", status: 202, outcome: ok,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "d-3", PackageEvent{Name: "web", Tag: "v7", Bare: true}.JSON())
			},
			want: &want{service: "web", version: "v7", kind: webhook.KindGitHub, event: "package", delivery: "d-3"}},
		{name: "github package owner case-insensitive", status: 202, outcome: ok,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "d-4", pkg("Acme", "web", "v8"))
			},
			want: &want{service: "web", version: "v8", kind: webhook.KindGitHub, event: "package", delivery: "d-4"}},
		{name: "github release published", status: 202, outcome: ok,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "release", "d-5", Release("published", "v2.0.0", "Two", false))
			},
			want: &want{service: "web", version: "v2.0.0", kind: webhook.KindGitHub, event: "release", delivery: "d-5",
				author: "release-bot", commit: "main", note: "GitHub release Two"}},
		{name: "github deploy event", status: 202, outcome: ok,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "deploy", "d-6", Deploy("v3.1.0", "hotfix\x1b[31m\nred", "abc123", "alice"))
			},
			want: &want{service: "web", version: "v3.1.0", kind: webhook.KindGitHub, event: "deploy", delivery: "d-6",
				author: "alice", commit: "abc123", note: "hotfix [31m red"}},
		{name: "github strict pattern accepts semver", status: 202, outcome: ok,
			build: func(f *fixture) hook {
				return f.github("strict", strictGitHubSecret, "package", "d-7", pkg("acme", "strict", "v1.2.3"))
			},
			want: &want{service: "strict", version: "v1.2.3", kind: webhook.KindGitHub, event: "package", delivery: "d-7"}},

		// GitHub: authentic, but nothing to deploy.
		{name: "github ping", status: 200, outcome: webhook.OutcomePong,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "ping", "d-p", []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`))
			}},
		{name: "github push ignored", status: 202, outcome: ign,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "push", "d-8", []byte(`{"ref":"refs/heads/main"}`))
			}},
		{name: "github package updated ignored", status: 202, outcome: ign,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "d-9", PackageEvent{Action: "updated", Owner: "acme", Name: "web", Tag: "v1"}.JSON())
			}},
		{name: "github untagged package ignored", status: 202, outcome: ign,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "d-10", pkg("acme", "web", ""))
			}},
		{name: "github cosign signature tag ignored", status: 202, outcome: ign,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "d-11", pkg("acme", "web", "sha256-"+strings.Repeat("ab", 32)+".sig"))
			}},
		{name: "github npm package ignored", status: 202, outcome: ign,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "d-12", PackageEvent{Owner: "acme", Name: "web", Tag: "1.0.0", Type: "npm"}.JSON())
			}},
		{name: "github draft release ignored", status: 202, outcome: ign,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "release", "d-13", Release("published", "v2", "", true))
			}},
		{name: "github release created ignored", status: 202, outcome: ign,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "release", "d-14", Release("created", "v2", "", false))
			}},

		// GitHub: rejections, in check order.
		{name: "github GET", status: 405, outcome: rej, errContains: "method",
			build: func(f *fixture) hook {
				h := f.github("web", webGitHubSecret, "package", "d-20", webPkg)
				h.method = http.MethodGet
				return h
			}},
		{name: "github oversize body", status: 413, outcome: rej, errContains: "larger",
			build: func(f *fixture) hook { return f.github("web", webGitHubSecret, "deploy", "d-21", oversize) }},
		{name: "github unknown service", status: 404, outcome: rej, errContains: "unknown hook",
			build: func(f *fixture) hook { return f.github("nope", webGitHubSecret, "package", "d-22", webPkg) }},
		{name: "github service without secret", status: 404, outcome: rej, errContains: "unknown hook",
			build: func(f *fixture) hook {
				return f.github("nosecret", "anything", "package", "d-23", pkg("acme", "nosecret", "v1"))
			}},
		{name: "github missing signature", status: 401, outcome: rej, errContains: "missing signature",
			build: func(f *fixture) hook { return f.github("web", "", "package", "d-24", webPkg) }},
		{name: "github wrong secret", status: 401, outcome: rej, errContains: "invalid signature",
			build: func(f *fixture) hook { return f.github("web", "not-the-secret", "package", "d-25", webPkg) }},
		{name: "github another service's secret", status: 401, outcome: rej, errContains: "invalid signature",
			build: func(f *fixture) hook { return f.github("web", strictGitHubSecret, "package", "d-26", webPkg) }},
		{name: "github sha1 signature", status: 401, outcome: rej, errContains: "invalid signature",
			build: func(f *fixture) hook {
				h := f.github("web", webGitHubSecret, "package", "d-27", webPkg)
				h.header["X-Hub-Signature-256"] = "sha1=" + strings.TrimPrefix(h.header["X-Hub-Signature-256"], "sha256=")[:40]
				return h
			}},
		{name: "github body changed after signing", status: 401, outcome: rej, errContains: "invalid signature",
			build: func(f *fixture) hook {
				h := f.github("web", webGitHubSecret, "package", "d-28", webPkg)
				h.body = pkg("acme", "web", "v6.6.6")
				return h
			}},
		{name: "github ping with wrong secret", status: 401, outcome: rej,
			build: func(f *fixture) hook { return f.github("web", "wrong", "ping", "d-29", []byte(`{}`)) }},
		{name: "github malformed delivery id", status: 400, outcome: rej, errContains: "delivery",
			build: func(f *fixture) hook { return f.github("web", webGitHubSecret, "package", "../d 30", webPkg) }},
		{name: "github malformed json", status: 400, outcome: rej, errContains: "malformed",
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "d-31", []byte(`{"action":"published","package":`))
			}},
		{name: "github deploy body not an object", status: 400, outcome: rej, errContains: "malformed",
			build: func(f *fixture) hook { return f.github("web", webGitHubSecret, "deploy", "d-32", []byte(`[1,2]`)) }},
		{name: "github wrong package name", status: 403, outcome: rej, errContains: "repository",
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "d-33", pkg("acme", "worker", "v1"))
			}},
		{name: "github wrong owner", status: 403, outcome: rej, errContains: "repository",
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "d-34", pkg("evil", "web", "v1"))
			}},
		{name: "github wrong repository checked before version", status: 403, outcome: rej,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "d-35", pkg("acme", "worker", "-rf"))
			}},
		{name: "github package invalid version", status: 400, outcome: rej, errContains: "invalid version",
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "d-36", pkg("acme", "web", "v1;rm -rf /"))
			}},
		{name: "github release invalid version", status: 400, outcome: rej, errContains: "invalid version",
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "release", "d-37", Release("published", "../etc", "", false))
			}},
		{name: "github deploy missing version", status: 400, outcome: rej, errContains: "invalid version",
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "deploy", "d-38", Deploy("", "n", "", ""))
			}},
		{name: "github version outside service pattern", status: 400, outcome: rej, errContains: "invalid version",
			build: func(f *fixture) hook {
				return f.github("strict", strictGitHubSecret, "package", "d-39", pkg("acme", "strict", "latest"))
			}},
		{name: "github service unknown to the enqueuer", status: 404, outcome: rej, enqueueCalled: true,
			build: func(f *fixture) hook {
				return f.github(Ghost, ghostGitHubSecret, "package", "d-40", pkg("acme", Ghost, "v1"))
			}},

		// Docker Hub.
		{name: "dockerhub push", status: 202, outcome: ok,
			build: func(f *fixture) hook {
				return f.dockerHub(apiDockerHubToken, DockerHubPush("acme/api", "2024.05.01", 1714557600))
			},
			want: &want{service: "api", version: "2024.05.01", kind: webhook.KindDockerHub, deliveryPrefix: "dockerhub-", author: "ci-bot"}},
		{name: "dockerhub GET", status: 405, outcome: rej,
			build: func(f *fixture) hook {
				h := f.dockerHub(apiDockerHubToken, nil)
				h.method = http.MethodGet
				return h
			}},
		{name: "dockerhub oversize body", status: 413, outcome: rej,
			build: func(f *fixture) hook { return f.dockerHub(apiDockerHubToken, oversize) }},
		{name: "dockerhub wrong token", status: 404, outcome: rej, errContains: "unknown hook",
			build: func(f *fixture) hook { return f.dockerHub("dh-api-0c8f3e6b9d2b", DockerHubPush("acme/api", "v1", 1)) }},
		{name: "dockerhub token prefix", status: 404, outcome: rej,
			build: func(f *fixture) hook { return f.dockerHub(apiDockerHubToken[:8], DockerHubPush("acme/api", "v1", 1)) }},
		{name: "dockerhub no token", status: 404, outcome: rej,
			build: func(f *fixture) hook { return f.dockerHub("", DockerHubPush("acme/api", "v1", 1)) }},
		{name: "dockerhub malformed json", status: 400, outcome: rej, errContains: "malformed",
			build: func(f *fixture) hook { return f.dockerHub(apiDockerHubToken, []byte(`{"push_data":{"tag":`)) }},
		{name: "dockerhub wrong repository", status: 403, outcome: rej, errContains: "repository",
			build: func(f *fixture) hook { return f.dockerHub(apiDockerHubToken, DockerHubPush("acme/other", "v1", 1)) }},
		{name: "dockerhub wrong namespace", status: 403, outcome: rej,
			build: func(f *fixture) hook { return f.dockerHub(apiDockerHubToken, DockerHubPush("evil/api", "v1", 1)) }},
		{name: "dockerhub invalid tag", status: 400, outcome: rej, errContains: "invalid version",
			build: func(f *fixture) hook { return f.dockerHub(apiDockerHubToken, DockerHubPush("acme/api", "-rf", 1)) }},

		// Generic.
		{name: "generic deploy", status: 202, outcome: ok,
			build: func(f *fixture) hook {
				return f.generic("web", webGenericSecret, f.now, "build-42", Deploy("v5.0.0", "from CI", "deadbeef", "ci"))
			},
			want: &want{service: "web", version: "v5.0.0", kind: webhook.KindGeneric, delivery: "build-42",
				note: "from CI", commit: "deadbeef", author: "ci"}},
		{name: "generic without delivery header", status: 202, outcome: ok,
			build: func(f *fixture) hook { return f.generic("api", apiGenericSecret, f.now, "", Deploy("v5", "", "", "")) },
			want:  &want{service: "api", version: "v5", kind: webhook.KindGeneric, deliveryPrefix: "sig-"}},
		{name: "generic at the window's past edge", status: 202, outcome: ok,
			build: func(f *fixture) hook {
				return f.generic("web", webGenericSecret, f.now.Add(-webhook.DefaultWindow), "e-1", Deploy("v1", "", "", ""))
			},
			want: &want{service: "web", version: "v1", kind: webhook.KindGeneric, delivery: "e-1"}},
		{name: "generic at the window's future edge", status: 202, outcome: ok,
			build: func(f *fixture) hook {
				return f.generic("web", webGenericSecret, f.now.Add(webhook.DefaultWindow), "e-2", Deploy("v1", "", "", ""))
			},
			want: &want{service: "web", version: "v1", kind: webhook.KindGeneric, delivery: "e-2"}},
		{name: "generic PUT", status: 405, outcome: rej,
			build: func(f *fixture) hook {
				h := f.generic("web", webGenericSecret, f.now, "g-1", Deploy("v1", "", "", ""))
				h.method = http.MethodPut
				return h
			}},
		{name: "generic oversize body", status: 413, outcome: rej,
			build: func(f *fixture) hook { return f.generic("web", webGenericSecret, f.now, "g-2", oversize) }},
		{name: "generic unknown service", status: 404, outcome: rej, errContains: "unknown hook",
			build: func(f *fixture) hook {
				return f.generic("nope", webGenericSecret, f.now, "g-3", Deploy("v1", "", "", ""))
			}},
		{name: "generic service without secret", status: 404, outcome: rej,
			build: func(f *fixture) hook { return f.generic("strict", "x", f.now, "g-4", Deploy("v1.0.0", "", "", "")) }},
		{name: "generic missing timestamp", status: 401, outcome: rej, errContains: "missing timestamp",
			build: func(f *fixture) hook {
				h := f.generic("web", webGenericSecret, f.now, "g-5", Deploy("v1", "", "", ""))
				delete(h.header, webhook.HeaderTimestamp)
				return h
			}},
		{name: "generic missing signature", status: 401, outcome: rej, errContains: "missing signature",
			build: func(f *fixture) hook { return f.generic("web", "", f.now, "g-6", Deploy("v1", "", "", "")) }},
		{name: "generic wrong secret", status: 401, outcome: rej, errContains: "invalid signature",
			build: func(f *fixture) hook {
				return f.generic("web", apiGenericSecret, f.now, "g-7", Deploy("v1", "", "", ""))
			}},
		{name: "generic timestamp changed after signing", status: 401, outcome: rej, errContains: "invalid signature",
			build: func(f *fixture) hook {
				h := f.generic("web", webGenericSecret, f.now.Add(-time.Hour), "g-8", Deploy("v1", "", "", ""))
				h.header[webhook.HeaderTimestamp] = fmt.Sprint(f.now.Unix())
				return h
			}},
		{name: "generic signed non-numeric timestamp", status: 401, outcome: rej, errContains: "timestamp",
			build: func(f *fixture) hook {
				body := Deploy("v1", "", "", "")
				return hook{method: http.MethodPost, path: "/hooks/generic/web", body: body, header: map[string]string{
					webhook.HeaderTimestamp: "soon",
					webhook.HeaderSignature: webhook.SignGeneric([]byte(webGenericSecret), "soon", body)}}
			}},
		{name: "generic stale timestamp", status: 401, outcome: rej, errContains: "stale",
			build: func(f *fixture) hook {
				return f.generic("web", webGenericSecret, f.now.Add(-webhook.DefaultWindow-time.Second), "g-9", Deploy("v1", "", "", ""))
			}},
		{name: "generic future timestamp", status: 401, outcome: rej, errContains: "stale",
			build: func(f *fixture) hook {
				return f.generic("web", webGenericSecret, f.now.Add(webhook.DefaultWindow+time.Second), "g-10", Deploy("v1", "", "", ""))
			}},
		{name: "generic malformed delivery id", status: 400, outcome: rej, errContains: "delivery",
			build: func(f *fixture) hook {
				return f.generic("web", webGenericSecret, f.now, strings.Repeat("x", 129), Deploy("v1", "", "", ""))
			}},
		{name: "generic malformed json", status: 400, outcome: rej, errContains: "malformed",
			build: func(f *fixture) hook { return f.generic("web", webGenericSecret, f.now, "g-11", []byte(`{"version":`)) }},
		{name: "generic version of the wrong type", status: 400, outcome: rej, errContains: "malformed",
			build: func(f *fixture) hook {
				return f.generic("web", webGenericSecret, f.now, "g-12", []byte(`{"version":1}`))
			}},
		{name: "generic missing version", status: 400, outcome: rej, errContains: "invalid version",
			build: func(f *fixture) hook {
				return f.generic("web", webGenericSecret, f.now, "g-13", []byte(`{"note":"x"}`))
			}},
		{name: "generic invalid version", status: 400, outcome: rej, errContains: "invalid version",
			build: func(f *fixture) hook {
				return f.generic("web", webGenericSecret, f.now, "g-14", Deploy("$(reboot)", "", "", ""))
			}},

		// Routing.
		{name: "unknown endpoint kind", status: 404, outcome: rej,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "r-1", webPkg).at("/hooks/gitlab/web")
			}},
		{name: "extra path element", status: 404, outcome: rej,
			build: func(f *fixture) hook {
				return f.github("web", webGitHubSecret, "package", "r-2", webPkg).at("/hooks/github/web/extra")
			}},
	}
}

func (h hook) at(path string) hook { h.path = path; return h }

func runCases(t *testing.T, newEnqueuer NewEnqueuer) {
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newEnqueuer)
			h := tc.build(f)
			r := f.send(h)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			calls, created := f.enq.counts()
			switch {
			case tc.want != nil:
				checkAccepted(t, r, created, *tc.want)
			case tc.enqueueCalled:
				if len(created) != 0 {
					t.Errorf("deploy created: %+v", created)
				}
			default:
				if calls != 0 {
					t.Errorf("Enqueue called %d times on a %d", calls, r.status)
				}
			}
			if tc.errContains != "" && !strings.Contains(r.Error, tc.errContains) {
				t.Errorf("error %q does not mention %q", r.Error, tc.errContains)
			}
			if tc.status == 405 && r.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow %q, want POST", r.header.Get("Allow"))
			}
			switch tc.outcome {
			case webhook.OutcomeIgnored:
				if r.Status != "ignored" || r.Reason == "" {
					t.Errorf("ignored body %s, want status ignored and a reason", r.body)
				}
			case webhook.OutcomePong:
				if r.Status != "pong" {
					t.Errorf("ping body %s", r.body)
				}
			}
			entries := f.audit.all()
			if len(entries) != 1 {
				t.Fatalf("%d audit entries, want 1: %+v", len(entries), entries)
			}
			if e := entries[0]; e.Status != tc.status || e.Outcome != tc.outcome {
				t.Errorf("audit %d %s, want %d %s (%+v)", e.Status, e.Outcome, tc.status, tc.outcome, e)
			}
			if tc.outcome == webhook.OutcomeRejected && entries[0].Reason == "" {
				t.Errorf("rejection audited without a reason: %+v", entries[0])
			}
			f.checkAuditClean()
		})
	}
}

func checkAccepted(t *testing.T, r response, created []webhook.Request, w want) {
	t.Helper()
	if len(created) != 1 {
		t.Fatalf("%d deploys created, want 1", len(created))
	}
	if r.ID == 0 || r.Duplicate || r.StatusURL != fmt.Sprintf("/v1/deploys/%d", r.ID) {
		t.Errorf("accepted body %s", r.body)
	}
	got := created[0]
	if got.Service != w.service || got.Version != w.version || got.WebhookKind != w.kind ||
		got.Event != w.event || got.Source != webhook.SourceWebhook {
		t.Errorf("request %+v, want %+v", got, w)
	}
	if w.delivery != "" && got.DeliveryID != w.delivery {
		t.Errorf("delivery %q, want %q", got.DeliveryID, w.delivery)
	}
	if w.deliveryPrefix != "" && !strings.HasPrefix(got.DeliveryID, w.deliveryPrefix) {
		t.Errorf("delivery %q, want prefix %q", got.DeliveryID, w.deliveryPrefix)
	}
	for _, c := range []struct{ name, got, want string }{
		{"author", got.Author, w.author}, {"commit", got.Commit, w.commit}, {"note", got.Note, w.note},
	} {
		if c.want != "" && c.got != c.want {
			t.Errorf("%s %q, want %q", c.name, c.got, c.want)
		}
	}
	if got.Remote == "" {
		t.Error("remote address not passed")
	}
}
