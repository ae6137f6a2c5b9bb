package dockertest

import (
	"context"
	"crypto/subtle"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryCreds remembers the basic-auth credentials of each registry
// StartRegistry served, so Push can authenticate. Guarded by credsMu.
var (
	credsMu       sync.Mutex
	registryCreds = map[string]authn.Basic{}
)

// StartRegistry serves an in-memory OCI registry on 127.0.0.1 for the
// duration of t and returns its host ("127.0.0.1:port"). With a non-empty
// user, every request needs those basic-auth credentials. The Docker engine
// pulls from it over plain HTTP because it treats 127.0.0.0/8 as an insecure
// registry by default (and shares the host's loopback when it runs on the
// same machine).
func StartRegistry(t testing.TB, user, pass string) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if user != "" {
		h = basicAuth(h, user, pass)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	credsMu.Lock()
	registryCreds[host] = authn.Basic{Username: user, Password: pass}
	credsMu.Unlock()
	t.Cleanup(func() {
		credsMu.Lock()
		delete(registryCreds, host)
		credsMu.Unlock()
	})
	return host
}

// basicAuth answers 401 with a Basic challenge, as a registry does, unless
// the request carries the right credentials (compared in constant time).
func basicAuth(next http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok ||
			subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="hotswap-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Push builds a sample image whose command is ["--version", tag] and pushes
// it as host/repo:tag to a registry started by StartRegistry. The sample app
// reports the tag as its version, so version words ("v4-crash"…) work. The
// image the engine later pulls is not removed here: the test that pulls it
// removes it (RemoveImage).
func Push(t testing.TB, host, repo, tag string) {
	t.Helper()
	PushAs(t, host, repo, tag, tag)
}

// PushAs is Push of an image that reports version (not tag) as its
// version: pushing "latest" with a new version moves the tag to new
// content, as a CI pipeline's push does.
func PushAs(t testing.TB, host, repo, tag, version string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ref := host + "/" + repo + ":" + tag
	img, err := SampleImage(ctx, ref, []string{"--version", version})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	opts := []remote.Option{remote.WithContext(ctx)}
	credsMu.Lock()
	creds, ok := registryCreds[host]
	credsMu.Unlock()
	if ok && creds.Username != "" {
		opts = append(opts, remote.WithAuth(&creds))
	}
	if err := remote.Write(dst, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}
