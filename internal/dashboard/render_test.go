package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Versions, notes, commits and audit details come from outside (API
// callers, webhooks, CI): the pages must show them as text.
const hostile = `"><script>alert(1)</script><img src=x onerror=alert(2)>`

func TestHostileStringsAreEscaped(t *testing.T) {
	sb := newScripted()
	sb.services[0].Name = "web"
	sb.services[0].Live.Version = hostile
	sb.releases[0].Version = hostile
	sb.releases[0].Note = hostile
	sb.releases[0].Error = hostile
	sb.releases[0].Commit = "javascript:alert(3)"
	sb.releases[1].Commit = `"onmouseover="alert(4)`
	sb.steps = []StepView{{At: time.Now(), Step: "health", Level: "info", Message: hostile}}
	sb.audits = []AuditView{{At: time.Now(), Actor: hostile, Action: hostile, Detail: hostile, Outcome: hostile}}
	_, srv := newServer(t, sb, nil)
	b := newBrowser(t, srv)
	b.login(deployerSecret)
	for _, p := range []string{"/ui/", "/ui/services/web", "/ui/releases/2", "/ui/audit", "/ui/confirm?action=deploy&service=web&version=" + strings.ReplaceAll(hostile, " ", "+")} {
		code, body, _ := b.get(p)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", p, code)
		}
		for _, bad := range []string{"<script>alert", "<img src=x", `onmouseover="alert`, `href="javascript:`} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q unescaped", p, bad)
			}
		}
	}
	_, body, _ := b.get("/ui/services/web")
	hrefs := regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(body, -1)
	commits := 0
	for _, m := range hrefs {
		if strings.Contains(m[1], "git.example") {
			commits++
			if !strings.HasPrefix(m[1], "https://git.example/c/") {
				t.Errorf("commit link %q left the commit URL template", m[1])
			}
		}
	}
	if commits != 2 {
		t.Errorf("%d commit links, want 2 (escaped into the template)", commits)
	}
}

func TestCommitLinkStaysOnTheTemplate(t *testing.T) {
	h := &Handler{commitURL: "https://{commit}.git.example/x"}
	for _, c := range []string{"evil.example/", "a@evil.example", "javascript:alert(1)//"} {
		if got := h.commitLink(c); got != "" && !strings.Contains(got, ".git.example/x") {
			t.Errorf("commitLink(%q) = %q: left the configured host", c, got)
		}
	}
	h = &Handler{commitURL: "https://git.example/c/{commit}"}
	if got := h.commitLink("abc/../../evil?x=1#y"); got != "https://git.example/c/abc%2F..%2F..%2Fevil%3Fx=1%23y" {
		t.Errorf("commit path-escaped: %q", got)
	}
	if got := (&Handler{}).commitLink("abc"); got != "" {
		t.Errorf("no template: %q, want no link", got)
	}
}

func TestLiveStreamPushesChanges(t *testing.T) {
	sb := newScripted()
	_, srv := newServer(t, sb, nil)
	b := newBrowser(t, srv)
	b.login(deployerSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/ui/live?view=overview", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("live: %d %q", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	next := func() map[string]string {
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var f map[string]string
				if err := json.Unmarshal([]byte(line), &f); err != nil {
					t.Fatalf("bad event %q: %v", line, err)
				}
				return f
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return nil
	}
	// The first pass sends every fragment: the service's data and actions.
	first := map[string]string{}
	for len(first) < 2 {
		f := next()
		first[f["id"]] = f["html"]
	}
	if !strings.Contains(first["svc-web"], ">v2<") || !strings.Contains(first["act-web"], "Roll back to v1") {
		t.Fatalf("first fragments: %v", first)
	}
	// A change is pushed when the backend signals it.
	sb.mu.Lock()
	sb.services[0].Live = &VersionView{Version: "v3", Release: 3, Since: time.Now(), Health: "healthy"}
	close(sb.changed)
	sb.changed = make(chan struct{})
	sb.mu.Unlock()
	for {
		f := next()
		if strings.Contains(f["html"], ">v3<") {
			break
		}
	}
	// Without a session there is no stream.
	anon, err := http.Get(srv.URL + "/ui/live?view=overview")
	if err != nil {
		t.Fatal(err)
	}
	anon.Body.Close()
	if anon.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous live stream: %d, want 401", anon.StatusCode)
	}
}
