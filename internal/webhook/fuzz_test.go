package webhook

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/hotswap/hotswap/internal/version"
)

// Fuzz properties shared by every parser: no panic; an error is one of the
// documented sentinels; a Request passes the service's validator and has
// bounded, control-free text fields.

var fuzzService = Service{Name: "web", Image: "ghcr.io/acme/web:latest"}

func checkParsed(t *testing.T, req Request, err error, svc Service) {
	t.Helper()
	if err != nil {
		for _, sentinel := range []error{ErrMalformed, ErrIgnored, ErrRepoMismatch, version.ErrInvalid} {
			if errors.Is(err, sentinel) {
				return
			}
		}
		t.Fatalf("error %v wraps no documented sentinel", err)
	}
	if verr := svc.validator().Validate(req.Version); verr != nil {
		t.Fatalf("parser returned invalid version %q: %v", req.Version, verr)
	}
	if req.Service != svc.Name || req.Source != SourceWebhook {
		t.Fatalf("request %+v not bound to service %q", req, svc.Name)
	}
	for _, f := range []struct {
		s   string
		max int
	}{{req.Note, MaxNoteLen}, {req.Author, MaxAuthorLen}, {req.Commit, MaxCommitLen}} {
		if len(f.s) > f.max || !utf8.ValidString(f.s) || cleanText(f.s, f.max) != f.s {
			t.Fatalf("unclean field %q", f.s)
		}
	}
	if !validDeliveryID(req.DeliveryID) {
		t.Fatalf("invalid delivery id %q", req.DeliveryID)
	}
}

func FuzzParseGitHub(f *testing.F) {
	f.Add("registry_package", readTestdata(f, "github_registry_package.json"))
	f.Add("release", readTestdata(f, "github_release.json"))
	f.Add("deploy", readTestdata(f, "generic.json"))
	f.Add("package", []byte(`{"action":"published","package":{"name":"web","package_type":"CONTAINER","package_version":{"container_metadata":{"tag":{"name":"v1"}}}}}`))
	f.Add("package", []byte(`{"action":"published","package":{"name":"web","package_version":{"package_url":"ghcr.io/acme/web:v1;id","container_metadata":{"tag":{"name":"v1;id"}}}}}`))
	f.Add("package", []byte(`{"action":"published","package":null}`))
	f.Add("push", []byte(`{}`))
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		req, err := ParseGitHub(event, body, fuzzService)
		checkParsed(t, req, err, fuzzService)
	})
}

func FuzzParseDockerHub(f *testing.F) {
	svc := Service{Name: "api", Image: "acme/api"}
	f.Add(readTestdata(f, "dockerhub_push.json"))
	f.Add([]byte(`{"push_data":{"tag":"v1","pushed_at":1.5e9},"repository":{"repo_name":"acme/api"}}`))
	f.Add([]byte(`{"push_data":{"tag":"../x"},"repository":{"namespace":"acme","name":"api"}}`))
	f.Add([]byte(`{"repository":{"repo_name":"ghcr.io/acme/api"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseDockerHub(body, svc)
		checkParsed(t, req, err, svc)
	})
}

func FuzzParseGeneric(f *testing.F) {
	f.Add(readTestdata(f, "generic.json"))
	f.Add([]byte(`{"version":"v1","note":"\u001b[31mred","author":"\u2028x"}`))
	f.Add([]byte(`{"version":"-rf"}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseGeneric(body, fuzzService)
		checkParsed(t, req, err, fuzzService)
	})
}
