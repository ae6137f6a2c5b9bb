package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNotificationCarriesRollbackLink: a successful deploy's notification
// carries a signed link to the dashboard's confirmation for rolling it
// back; the link leads there after login, and an edited one is refused.
func TestNotificationCarriesRollbackLink(t *testing.T) {
	events := make(chan map[string]any, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		if json.NewDecoder(r.Body).Decode(&ev) == nil {
			events <- ev
		}
	}))
	defer recv.Close()
	top := dashTop + "  public_url: http://dashboard.test/ui/\n  link_ttl: 1h\n" +
		fmt.Sprintf("notify:\n  - {kind: webhook, url: %q, events: [succeeded]}\n", recv.URL)
	dir := t.TempDir()
	d, c := daemonClient(t, servicesConfig(t, dir, fmt.Sprintf(webService, sampleBin), top))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "web", "v1", "live")
	v2 := mustDeploy(ctx, t, c, "web", "v2", "live")

	var link string
	for link == "" {
		select {
		case ev := <-events:
			if ev["version"] == "v2" {
				link, _ = ev["rollback_url"].(string)
				if link == "" {
					t.Fatalf("succeeded notification without rollback_url: %v", ev)
				}
			}
		case <-ctx.Done():
			t.Fatal("no succeeded notification for v2")
		}
	}
	if !strings.HasPrefix(link, "http://dashboard.test/ui/link/rollback?") || !strings.Contains(link, fmt.Sprintf("release=%d", v2.ID)) {
		t.Fatalf("rollback link %q: want the public URL and release %d", link, v2.ID)
	}
	if fi, err := os.Stat(filepath.Join(dir, "dashboard.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("link key in the state dir: %v %v, want mode 0600", fi, err)
	}

	// Follow it as a person would: log in, land on the confirmation.
	u, _ := url.Parse(link)
	path := u.RequestURI()
	base := "http://" + d.ControlAddr()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := hc.PostForm(base+"/ui/login", url.Values{"token": {"deployer-token-0123456789"}, "next": {path}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Roll web back from v2 to v1 (warm)") || !strings.Contains(string(body), `action="/ui/act"`) {
		t.Fatalf("link after login: %d %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	q := u.Query()
	q.Set("release", "1")
	resp, err = hc.Get(base + u.Path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("edited link: %d, want 403", resp.StatusCode)
	}
	if st, _ := c.Status(ctx, "web"); st[0].Live.Version != "v2" {
		t.Errorf("following links changed what is live: %s", st[0].Live.Version)
	}
}
