package webhook

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hotswap/hotswap/internal/version"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseImage(t *testing.T) {
	tests := []struct{ in, host, path, name string }{
		{"ghcr.io/acme/web:latest", "ghcr.io", "acme/web", "web"},
		{"GHCR.io/Acme/Web", "ghcr.io", "acme/web", "web"},
		{"ghcr.io/acme/team/app@sha256:abcd", "ghcr.io", "acme/team/app", "app"},
		{"ghcr.io/acme/web:v1;rm -rf /", "ghcr.io", "acme/web", "web"},
		{"nginx", "docker.io", "library/nginx", "nginx"},
		{"nginx:1.25", "docker.io", "library/nginx", "nginx"},
		{"acme/api:stable", "docker.io", "acme/api", "api"},
		{"docker.io/acme/api", "docker.io", "acme/api", "api"},
		{"index.docker.io/acme/api", "docker.io", "acme/api", "api"},
		{"localhost:5000/web:v2", "localhost:5000", "web", "web"},
		{"localhost/web", "localhost", "web", "web"},
	}
	for _, tc := range tests {
		got := parseImage(tc.in)
		if got.Host != tc.host || got.Path != tc.path || got.Name() != tc.name {
			t.Errorf("parseImage(%q) = %+v (name %q), want %s/%s (%s)", tc.in, got, got.Name(), tc.host, tc.path, tc.name)
		}
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"  hello  ", 10, "hello"},
		{"a\x1b[2Jb\nc\u2028d", 20, "a [2Jb c d"},
		{"héllo", 2, "h"}, // never cuts a rune in half
		{"\xff\xfeok", 10, "\uFFFDok"},
		{strings.Repeat("x", 50), 8, "xxxxxxxx"},
	}
	for _, tc := range tests {
		if got := cleanText(tc.in, tc.max); got != tc.want {
			t.Errorf("cleanText(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestValidDeliveryID(t *testing.T) {
	for id, ok := range map[string]bool{
		"": true, "72d3162e-cc78-11e3-81ab-4c9367dc0958": true, "build:42.1_a": true,
		strings.Repeat("a", 128): true, strings.Repeat("a", 129): false,
		"a b": false, "a/b": false, "a\nb": false, "ü": false,
	} {
		if validDeliveryID(id) != ok {
			t.Errorf("validDeliveryID(%q) = %v, want %v", id, !ok, ok)
		}
	}
}

func TestSignatures(t *testing.T) {
	body := []byte(`{"a":1}`)
	good := SignGitHub([]byte("k"), body)
	for sig, ok := range map[string]bool{
		good:                                  true,
		strings.ToUpper(good[:7]) + good[7:]:  false, // prefix is case-sensitive
		"sha256=" + strings.ToUpper(good[7:]): true,  // hex is not
		good[:len(good)-1]:                    false,
		good + "0":                            false,
		"":                                    false,
		SignGitHub([]byte("other"), body):     false,
	} {
		if validSignature(sig, good) != ok {
			t.Errorf("validSignature(%q) = %v, want %v", sig, !ok, ok)
		}
	}
	if SignGeneric([]byte("k"), "1", body) == SignGeneric([]byte("k"), "2", body) {
		t.Error("generic signature ignores the timestamp")
	}
	if !tokenEqual("tok", []byte("tok")) || tokenEqual("tok", []byte("tok2")) || tokenEqual("", nil) {
		t.Error("tokenEqual wrong")
	}
}

func TestParseSamples(t *testing.T) {
	web := Service{Name: "web", Image: "ghcr.io/acme/web:latest"}
	api := Service{Name: "api", Image: "acme/api"}
	tests := []struct {
		name    string
		parse   func() (Request, error)
		version string
		author  string
		err     error
	}{
		{"registry_package", func() (Request, error) {
			return ParseGitHub("registry_package", readTestdata(t, "github_registry_package.json"), web)
		}, "v2.7.1", "github-actions[bot]", nil},
		{"registry_package sent as package event", func() (Request, error) {
			return ParseGitHub("package", readTestdata(t, "github_registry_package.json"), web)
		}, "", "", ErrMalformed},
		{"release", func() (Request, error) {
			return ParseGitHub("release", readTestdata(t, "github_release.json"), web)
		}, "v2.8.0", "mona", nil},
		{"dockerhub", func() (Request, error) { return ParseDockerHub(readTestdata(t, "dockerhub_push.json"), api) },
			"2024.05.06-3", "acmeci", nil},
		{"dockerhub for a ghcr service", func() (Request, error) { return ParseDockerHub(readTestdata(t, "dockerhub_push.json"), web) },
			"", "", ErrRepoMismatch},
		{"generic", func() (Request, error) { return ParseGeneric(readTestdata(t, "generic.json"), web) },
			"v2.8.1", "mona", nil},
		{"generic strict pattern", func() (Request, error) {
			return ParseGeneric(readTestdata(t, "generic.json"), Service{Name: "s", Versions: version.MustCompile(`^[0-9]+$`)})
		}, "", "", version.ErrInvalid},
		{"registry_package for another image", func() (Request, error) {
			return ParseGitHub("registry_package", readTestdata(t, "github_registry_package.json"), Service{Name: "w", Image: "docker.io/acme/web"})
		}, "", "", ErrRepoMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := tc.parse()
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.Version != tc.version || req.Author != tc.author || req.Source != SourceWebhook {
				t.Fatalf("got %+v, want version %q author %q", req, tc.version, tc.author)
			}
		})
	}
}

func TestDockerHubDeliveryID(t *testing.T) {
	api := Service{Name: "api", Image: "acme/api"}
	a, err := ParseDockerHub([]byte(`{"push_data":{"tag":"v1","pushed_at":1},"repository":{"repo_name":"acme/api"}}`), api)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseDockerHub([]byte(`{"push_data":{"tag":"v1","pushed_at":2},"repository":{"repo_name":"acme/api"}}`), api)
	c, _ := ParseDockerHub([]byte(`{"push_data":{"tag":"v1"},"repository":{"repo_name":"acme/api"}}`), api)
	if a.DeliveryID == "" || a.DeliveryID == b.DeliveryID || c.DeliveryID != "" {
		t.Fatalf("delivery ids %q %q %q: want distinct per push, empty without push time", a.DeliveryID, b.DeliveryID, c.DeliveryID)
	}
	// Official images: the service may say "nginx", Docker Hub "library/nginx".
	if _, err := ParseDockerHub([]byte(`{"push_data":{"tag":"1.25"},"repository":{"repo_name":"library/nginx"}}`), Service{Name: "n", Image: "nginx"}); err != nil {
		t.Fatal(err)
	}
}
