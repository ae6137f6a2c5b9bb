package dashboard

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rollbackForm is what the confirmation page posts to roll web back to v1.
func rollbackForm(csrf string) url.Values {
	return url.Values{"csrf": {csrf}, "action": {"rollback"}, "service": {"web"}, "version": {"v1"}, "expect_live": {"v2"}}
}

func TestActionsNeedCSRFAndSameOrigin(t *testing.T) {
	sb := newScripted()
	_, srv := newServer(t, sb, nil)
	b := newBrowser(t, srv)
	b.login(deployerSecret)
	csrf := b.csrf()

	refused := []struct {
		name string
		form url.Values
		hdr  map[string]string
	}{
		{"no csrf token", rollbackForm(""), nil},
		{"wrong csrf token", rollbackForm(csrf[:len(csrf)-1] + "x"), nil},
		{"cross-site fetch", rollbackForm(csrf), map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"same-site fetch", rollbackForm(csrf), map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"foreign origin", rollbackForm(csrf), map[string]string{"Origin": "https://evil.example"}},
		{"null origin", rollbackForm(csrf), map[string]string{"Origin": "null"}},
	}
	for _, tt := range refused {
		if code, _, _ := b.post("/ui/act", tt.form, tt.hdr); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tt.name, code)
		}
	}
	if a := sb.actions(); len(a) != 0 {
		t.Fatalf("refused posts acted: %+v", a)
	}
	// What runs changed since the confirmation: nothing is done.
	stale := rollbackForm(csrf)
	stale.Set("expect_live", "v0")
	if code, body, _ := b.post("/ui/act", stale, nil); code != http.StatusConflict || !strings.Contains(body, "changed since you confirmed") {
		t.Errorf("stale confirmation: %d", code)
	}
	if a := sb.actions(); len(a) != 0 {
		t.Fatalf("stale confirmation acted: %+v", a)
	}

	code, _, hdr := b.post("/ui/act", rollbackForm(csrf), map[string]string{"Origin": "", "Sec-Fetch-Site": ""})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/ui/releases/3" {
		t.Fatalf("confirmed rollback: %d to %q", code, hdr.Get("Location"))
	}
	if a := sb.actions(); len(a) != 1 || a[0] != (Action{Kind: ActRollback, Service: "web", Version: "v1", Actor: "alice"}) {
		t.Fatalf("actions: %+v", a)
	}
	var ok, rejected int
	for _, e := range sb.audits {
		if e.Action == "dashboard rollback" && e.Actor == "alice" {
			switch e.Outcome {
			case "ok":
				ok++
			case "rejected":
				rejected++
			}
		}
	}
	if ok != 1 || rejected != len(refused)+1 {
		t.Errorf("audit: %d ok, %d rejected rollbacks; want 1 and %d", ok, rejected, len(refused)+1)
	}
}

func TestViewerSeesNoActionsAndCannotForgeOne(t *testing.T) {
	sb := newScripted()
	_, srv := newServer(t, sb, nil)
	b := newBrowser(t, srv)
	b.login(viewerSecret)
	for _, p := range []string{"/ui/", "/ui/services/web"} {
		code, body, _ := b.get(p)
		if code != http.StatusOK || !strings.Contains(body, "v2") {
			t.Fatalf("%s: %d", p, code)
		}
		if strings.Contains(body, "Roll back") || strings.Contains(body, "/ui/confirm") || strings.Contains(body, "Deploy a version") {
			t.Errorf("%s offers actions to a viewer", p)
		}
	}
	if code, _, _ := b.get("/ui/confirm?action=rollback&service=web"); code != http.StatusForbidden {
		t.Errorf("viewer confirmation page: %d, want 403", code)
	}
	// The viewer has a session and its CSRF token: still refused.
	if code, _, _ := b.post("/ui/act", rollbackForm(b.csrf()), nil); code != http.StatusForbidden {
		t.Errorf("viewer forged action: %d, want 403", code)
	}
	if a := sb.actions(); len(a) != 0 {
		t.Fatalf("viewer acted: %+v", a)
	}
}

func TestConfirmationNamesWhatHappens(t *testing.T) {
	_, srv := newServer(t, newScripted(), nil)
	b := newBrowser(t, srv)
	b.login(deployerSecret)
	_, body, _ := b.get("/ui/confirm?action=rollback&service=web")
	for _, want := range []string{"Roll web back from v2 to v1 (warm)", `name="version" value="v1"`, `name="expect_live" value="v2"`, "Roll back to v1"} {
		if !strings.Contains(body, want) {
			t.Errorf("rollback confirmation lacks %q", want)
		}
	}
	_, body, _ = b.get("/ui/confirm?action=rollback&service=web&version=v2")
	if !strings.Contains(body, "already live") || strings.Contains(body, `action="/ui/act"`) {
		t.Errorf("rolling back to the live version is offered")
	}
	_, body, _ = b.get("/ui/confirm?action=promote&service=web")
	if !strings.Contains(body, "No deploy is in progress") || strings.Contains(body, `action="/ui/act"`) {
		t.Errorf("promote with nothing in progress is offered")
	}
}

func TestSignedRollbackLinks(t *testing.T) {
	h, srv := newServer(t, newScripted(), nil)
	now := time.Now()
	h.now = func() time.Time { return now }
	good := RollbackLink(testKey, srv.URL+"/ui/", "web", 2, now.Add(time.Hour))
	path := strings.TrimPrefix(good, srv.URL)

	b := newBrowser(t, srv)
	// Not logged in: the link leads to the login, and back.
	code, _, hdr := b.get(path)
	if code != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/ui/login?next=") {
		t.Fatalf("anonymous link: %d to %q", code, hdr.Get("Location"))
	}
	code, _, hdr = b.post("/ui/login", url.Values{"token": {deployerSecret}, "next": {path}}, nil)
	if code != http.StatusSeeOther || hdr.Get("Location") != path {
		t.Fatalf("login from a link: %d to %q, want back to %q", code, hdr.Get("Location"), path)
	}
	code, body, _ := b.get(path)
	if code != http.StatusOK || !strings.Contains(body, "Roll web back from v2 to v1") || !strings.Contains(body, `action="/ui/act"`) {
		t.Fatalf("good link: %d\n%s", code, body)
	}

	u, _ := url.Parse(good)
	tamper := func(k, v string) string {
		q := u.Query()
		q.Set(k, v)
		return u.Path + "?" + q.Encode()
	}
	for name, p := range map[string]string{
		"other service":  tamper("service", "api"),
		"other release":  tamper("release", "1"),
		"later expiry":   tamper("exp", "99999999999"),
		"forged sig":     tamper("sig", strings.Repeat("0", 64)),
		"no sig":         tamper("sig", ""),
		"other key":      strings.TrimPrefix(RollbackLink([]byte("another-key-0123456789abcdef0123"), srv.URL+"/ui/", "web", 2, now.Add(time.Hour)), srv.URL),
		"no fields left": "/ui/link/rollback",
	} {
		code, body, _ := b.get(p)
		if code != http.StatusForbidden || !strings.Contains(body, "not valid") || strings.Contains(body, `action="/ui/act"`) {
			t.Errorf("%s: %d, want 403 not valid", name, code)
		}
	}
	now = now.Add(time.Hour)
	if code, body, _ := b.get(path); code != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Errorf("expired link: %d, want 403 expired", code)
	}
	// A valid link for a release that is no longer live offers nothing.
	stale := strings.TrimPrefix(RollbackLink(testKey, srv.URL+"/ui/", "web", 1, now.Add(time.Hour)), srv.URL)
	if code, body, _ := b.get(stale); code != http.StatusOK || !strings.Contains(body, "no longer live") || strings.Contains(body, `action="/ui/act"`) {
		t.Errorf("link to a release that is not live: %d", code)
	}
}
