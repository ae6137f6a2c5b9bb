package webhooktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/version"
	"github.com/hotswap/hotswap/internal/webhook"
)

// The suite's secrets: one per service and kind, so a request signed for
// one service must fail on another.
const (
	webGitHubSecret    = "gh-web-5b0e1c7a"
	webGenericSecret   = "gen-web-91d2f0aa"
	strictGitHubSecret = "gh-strict-44a1"
	apiDockerHubToken  = "dh-api-0c8f3e6b9d2a"
	apiGenericSecret   = "gen-api-7e7e"
	ghostGitHubSecret  = "gh-ghost-1111"
)

// Ghost is a service the handler knows but the Enqueuer must not: it
// exercises the ErrUnknownService mapping.
const Ghost = "ghost"

// MaxBody is the body limit the suite configures.
const MaxBody = 64 << 10

// Services returns the services the suite's handler knows, Ghost included.
func Services() []webhook.Service {
	return []webhook.Service{
		{Name: "web", Image: "ghcr.io/acme/web:latest",
			GitHubSecret: []byte(webGitHubSecret), GenericSecret: []byte(webGenericSecret)},
		{Name: "strict", Image: "ghcr.io/acme/strict", Versions: version.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`),
			GitHubSecret: []byte(strictGitHubSecret)},
		{Name: "api", Image: "docker.io/acme/api:stable",
			DockerHubToken: []byte(apiDockerHubToken), GenericSecret: []byte(apiGenericSecret)},
		{Name: "nosecret", Image: "ghcr.io/acme/nosecret"},
		{Name: Ghost, Image: "ghcr.io/acme/ghost", GitHubSecret: []byte(ghostGitHubSecret)},
	}
}

func allSecrets() []string {
	return []string{webGitHubSecret, webGenericSecret, strictGitHubSecret, apiDockerHubToken, apiGenericSecret, ghostGitHubSecret}
}

// NewEnqueuer builds the Enqueuer under test, empty, knowing exactly the
// given services (Services without Ghost). It is called once per subtest.
type NewEnqueuer func(t *testing.T, services []webhook.Service) webhook.Enqueuer

type staticServices []webhook.Service

func (s staticServices) Lookup(name string) (webhook.Service, bool) {
	for _, svc := range s {
		if svc.Name == name {
			return svc, true
		}
	}
	return webhook.Service{}, false
}

func (s staticServices) All() []webhook.Service { return s }

// recorder wraps the Enqueuer under test to count calls and the requests
// that created deploys.
type recorder struct {
	inner webhook.Enqueuer

	mu      sync.Mutex // guards calls, created
	calls   int
	created []webhook.Request
}

func (r *recorder) Enqueue(ctx context.Context, req webhook.Request) (int64, bool, error) {
	id, dup, err := r.inner.Enqueue(ctx, req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if err == nil && !dup {
		r.created = append(r.created, req)
	}
	return id, dup, err
}

func (r *recorder) counts() (calls int, created []webhook.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, append([]webhook.Request(nil), r.created...)
}

type auditLog struct {
	mu      sync.Mutex // guards entries
	entries []webhook.Entry
}

func (a *auditLog) Audit(_ context.Context, e webhook.Entry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
}

func (a *auditLog) all() []webhook.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]webhook.Entry(nil), a.entries...)
}

// fixture is one handler behind a real HTTP server, with a pinned clock.
type fixture struct {
	t     *testing.T
	now   time.Time
	srv   *httptest.Server
	enq   *recorder
	audit *auditLog

	mu   sync.Mutex // guards sent
	sent []string   // signatures and tokens sent: must never be audited
}

func newFixture(t *testing.T, newEnqueuer NewEnqueuer) *fixture {
	t.Helper()
	var known []webhook.Service
	for _, s := range Services() {
		if s.Name != Ghost {
			known = append(known, s)
		}
	}
	f := &fixture{
		t:     t,
		now:   time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC),
		enq:   &recorder{inner: newEnqueuer(t, known)},
		audit: &auditLog{},
	}
	h, err := webhook.New(webhook.Options{
		Services: staticServices(Services()),
		Enqueuer: f.enq,
		Auditor:  f.audit,
		MaxBody:  MaxBody,
		Now:      func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatalf("webhook.New: %v", err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// hook is one HTTP request to send.
type hook struct {
	method string
	path   string
	header map[string]string
	body   []byte
}

func (f *fixture) github(service, secret, event, delivery string, body []byte) hook {
	h := hook{method: http.MethodPost, path: "/hooks/github/" + service, body: body,
		header: map[string]string{"X-GitHub-Event": event, "Content-Type": "application/json"}}
	if delivery != "" {
		h.header["X-GitHub-Delivery"] = delivery
	}
	if secret != "" {
		h.header["X-Hub-Signature-256"] = webhook.SignGitHub([]byte(secret), body)
	}
	return h
}

func (f *fixture) generic(service, secret string, sent time.Time, delivery string, body []byte) hook {
	ts := strconv.FormatInt(sent.Unix(), 10)
	h := hook{method: http.MethodPost, path: "/hooks/generic/" + service, body: body,
		header: map[string]string{webhook.HeaderTimestamp: ts}}
	if delivery != "" {
		h.header[webhook.HeaderDelivery] = delivery
	}
	if secret != "" {
		h.header[webhook.HeaderSignature] = webhook.SignGeneric([]byte(secret), ts, body)
	}
	return h
}

func (f *fixture) dockerHub(token string, body []byte) hook {
	return hook{method: http.MethodPost, path: "/hooks/dockerhub/" + token, body: body,
		header: map[string]string{"Content-Type": "application/json"}}
}

type response struct {
	status int
	header http.Header
	body   []byte
	// decoded fields of whichever body shape came back
	ID        int64  `json:"id"`
	StatusURL string `json:"status_url"`
	Duplicate bool   `json:"duplicate"`
	Status    string `json:"status"`
	Reason    string `json:"reason"`
	Error     string `json:"error"`
}

// send performs h and decodes the JSON answer. Safe for concurrent use.
func (f *fixture) send(h hook) response {
	f.t.Helper()
	f.mu.Lock()
	for k, v := range h.header {
		if strings.Contains(k, "Signature") && v != "" {
			f.sent = append(f.sent, v)
		}
	}
	f.mu.Unlock()
	req, err := http.NewRequest(h.method, f.srv.URL+h.path, bytes.NewReader(h.body))
	if err != nil {
		f.t.Errorf("new request: %v", err)
		return response{}
	}
	for k, v := range h.header {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Errorf("%s %s: %v", h.method, h.path, err)
		return response{}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Errorf("read response: %v", err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: body}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("%s %s: Content-Type %q, want application/json", h.method, h.path, ct)
	}
	if err := json.Unmarshal(body, &r); err != nil {
		f.t.Errorf("%s %s: response %q is not JSON: %v", h.method, h.path, body, err)
	}
	return r
}

// checkAuditClean fails if any audit entry holds a secret or a signature.
func (f *fixture) checkAuditClean() {
	f.t.Helper()
	f.mu.Lock()
	forbidden := append(allSecrets(), f.sent...)
	f.mu.Unlock()
	dump := fmt.Sprintf("%+v", f.audit.all())
	for _, s := range forbidden {
		if strings.Contains(dump, s) {
			f.t.Errorf("audit log contains secret material %q: %s", s, dump)
		}
		// A signature's hex alone is as bad as the header.
		if hexPart, ok := strings.CutPrefix(s, "sha256="); ok && strings.Contains(dump, hexPart) {
			f.t.Errorf("audit log contains a signature: %s", dump)
		}
	}
}
