package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/version"
	"github.com/hotswap/hotswap/internal/webhook"
	"github.com/hotswap/hotswap/internal/webhook/webhooktest"
)

// TestSuite runs the shared suite against the in-memory Enqueuer; the
// daemon's tests run the same suite against the real engine.
func TestSuite(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T, services []webhook.Service) webhook.Enqueuer {
		return webhooktest.NewMemEnqueuer(services)
	})
}

type oneService webhook.Service

func (s oneService) Lookup(name string) (webhook.Service, bool) {
	return webhook.Service(s), name == s.Name
}
func (s oneService) All() []webhook.Service { return []webhook.Service{webhook.Service(s)} }

type failingEnqueuer struct{ err error }

func (f failingEnqueuer) Enqueue(context.Context, webhook.Request) (int64, bool, error) {
	return 0, false, f.err
}

type nopAuditor struct{}

func (nopAuditor) Audit(context.Context, webhook.Entry) {}

// TestEnqueueErrors checks the mapping of Enqueuer errors, which a real
// engine cannot be made to produce on demand, and that internal details
// never reach the caller.
func TestEnqueueErrors(t *testing.T) {
	secret := []byte("s3cret")
	tests := []struct {
		err    error
		status int
		public string
	}{
		{fmt.Errorf("deploy web: %w", webhook.ErrUnknownService), 404, "unknown service"},
		{fmt.Errorf("deploy web: %w", version.ErrInvalid), 400, "invalid version"},
		{fmt.Errorf("engine: %w", webhook.ErrUnavailable), 503, "retry later"},
		{errors.New("sqlite: disk I/O error at /var/lib/hotswap/state.db"), 500, "internal error"},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			h, err := webhook.New(webhook.Options{
				Services: oneService{Name: "web", Image: "ghcr.io/acme/web", GitHubSecret: secret},
				Enqueuer: failingEnqueuer{tc.err},
				Auditor:  nopAuditor{},
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			body := webhooktest.Deploy("v1", "", "", "")
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/github/web", strings.NewReader(string(body)))
			req.Header.Set("X-GitHub-Event", "deploy")
			req.Header.Set("X-GitHub-Delivery", "x")
			req.Header.Set("X-Hub-Signature-256", webhook.SignGitHub(secret, body))
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if !strings.Contains(string(b), tc.public) || strings.Contains(string(b), "sqlite") {
				t.Fatalf("body %q, want it to say %q and nothing internal", b, tc.public)
			}
		})
	}
}

func TestNewRequiresCollaborators(t *testing.T) {
	if _, err := webhook.New(webhook.Options{}); err == nil {
		t.Fatal("New with no Services/Enqueuer/Auditor succeeded")
	}
}

// TestWindowOption checks that a configured Window replaces the default.
func TestWindowOption(t *testing.T) {
	secret := []byte("g")
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	enq := webhooktest.NewMemEnqueuer([]webhook.Service{{Name: "web"}})
	h, err := webhook.New(webhook.Options{
		Services: oneService{Name: "web", Image: "ghcr.io/acme/web", GenericSecret: secret},
		Enqueuer: enq, Auditor: nopAuditor{}, Window: 30 * time.Second,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range []struct {
		age    time.Duration
		status int
	}{{30 * time.Second, 202}, {31 * time.Second, 401}, {-31 * time.Second, 401}} {
		ts := strconv.FormatInt(now.Add(-tc.age).Unix(), 10)
		body := webhooktest.Deploy("v1", "", "", "")
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/generic/web", strings.NewReader(string(body)))
		req.Header.Set(webhook.HeaderTimestamp, ts)
		req.Header.Set(webhook.HeaderSignature, webhook.SignGeneric(secret, ts, body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("age %s: status %d, want %d", tc.age, resp.StatusCode, tc.status)
		}
	}
}
