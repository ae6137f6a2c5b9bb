package dashboard

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLoginSetsASafeSessionCookie(t *testing.T) {
	sb := newScripted()
	_, srv := newServer(t, sb, nil)
	b := newBrowser(t, srv)

	// Not logged in: pages send to the login, coming back afterwards.
	code, _, hdr := b.get("/ui/services/web")
	if code != http.StatusSeeOther || hdr.Get("Location") != "/ui/login?next=%2Fui%2Fservices%2Fweb" {
		t.Fatalf("anonymous page: %d to %q", code, hdr.Get("Location"))
	}
	// A wrong token cannot log in, gets no cookie and is audited.
	code, body, hdr := b.post("/ui/login", url.Values{"token": {"wrong-token-0123456789"}}, nil)
	if code != http.StatusUnauthorized || hdr.Get("Set-Cookie") != "" || !strings.Contains(body, "not valid") {
		t.Fatalf("wrong token: %d, cookie %q", code, hdr.Get("Set-Cookie"))
	}
	if code, _, _ := b.get("/ui/"); code != http.StatusSeeOther {
		t.Fatalf("after a failed login the overview answered %d", code)
	}
	code, _, hdr = b.post("/ui/login", url.Values{"token": {deployerSecret}, "next": {"/ui/services/web"}}, nil)
	if code != http.StatusSeeOther || hdr.Get("Location") != "/ui/services/web" {
		t.Fatalf("login: %d to %q", code, hdr.Get("Location"))
	}
	c, err := http.ParseSetCookie(hdr.Get("Set-Cookie"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui/" || c.Secure || len(c.Value) < 40 {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui/, not Secure over plain http, a long random id", c)
	}
	if code, body, _ := b.get("/ui/"); code != http.StatusOK || !strings.Contains(body, "alice") {
		t.Fatalf("overview after login: %d", code)
	}
	var outcomes []string
	for _, a := range sb.audits {
		outcomes = append(outcomes, a.Actor+":"+a.Outcome)
	}
	if strings.Join(outcomes, " ") != "?:rejected alice:ok" {
		t.Errorf("audit: %v, want the failed then the good login", outcomes)
	}
}

func TestSecureCookieBehindHTTPS(t *testing.T) {
	_, srv := newServer(t, newScripted(), func(o *Options) { o.PublicURL = "https://deploy.example/ui/" })
	b := newBrowser(t, srv)
	_, _, hdr := b.post("/ui/login", url.Values{"token": {deployerSecret}}, nil)
	if c, err := http.ParseSetCookie(hdr.Get("Set-Cookie")); err != nil || !c.Secure {
		t.Errorf("cookie %+v (%v): want Secure when the public URL is https", c, err)
	}
}

func TestSessionExpiresAndLogoutEndsIt(t *testing.T) {
	h, srv := newServer(t, newScripted(), func(o *Options) { o.SessionTTL = time.Hour })
	now := time.Now()
	h.sessions.now = func() time.Time { return now }
	b := newBrowser(t, srv)
	b.login(deployerSecret)
	if code, _, _ := b.get("/ui/"); code != http.StatusOK {
		t.Fatalf("fresh session: %d", code)
	}
	now = now.Add(time.Hour)
	if code, _, _ := b.get("/ui/"); code != http.StatusSeeOther {
		t.Fatalf("expired session: %d, want a redirect to the login", code)
	}

	b.login(deployerSecret)
	u, _ := url.Parse(srv.URL + "/ui/")
	old := b.c.Jar.Cookies(u)
	csrf := b.csrf()
	if code, _, _ := b.post("/ui/logout", url.Values{"csrf": {csrf}}, nil); code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}
	b.c.Jar.SetCookies(u, old) // a stolen copy of the cookie is worthless after logout
	if code, _, _ := b.get("/ui/"); code != http.StatusSeeOther {
		t.Fatalf("old cookie after logout: %d, want a redirect to the login", code)
	}
}

func TestSafeNext(t *testing.T) {
	h := &Handler{prefix: "/ui"}
	for in, want := range map[string]string{
		"/ui/services/web":            "/ui/services/web",
		"/ui/link/rollback?service=w": "/ui/link/rollback?service=w",
		"https://evil.example/ui/":    "/ui/",
		"//evil.example/ui/":          "/ui/",
		"/ui/\\evil":                  "/ui/",
		"/elsewhere":                  "/ui/",
		"":                            "/ui/",
	} {
		if got := h.safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFailedLoginsAreThrottled: guessing tokens through the login form
// stops after maxFailures per minute per address — even the right token is
// then refused until the window passes.
func TestFailedLoginsAreThrottled(t *testing.T) {
	h, srv := newServer(t, newScripted(), nil)
	now := time.Now()
	h.now = func() time.Time { return now }
	b := newBrowser(t, srv)
	for i := 0; i < maxFailures; i++ {
		if code, _, _ := b.post("/ui/login", url.Values{"token": {"guess-0123456789abcdef"}}, nil); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, code)
		}
	}
	code, _, hdr := b.post("/ui/login", url.Values{"token": {deployerSecret}}, nil)
	if code != http.StatusTooManyRequests || hdr.Get("Set-Cookie") != "" {
		t.Fatalf("login after %d failures: %d, want 429 and no session", maxFailures, code)
	}
	now = now.Add(failureWindow)
	b.login(deployerSecret)
}
