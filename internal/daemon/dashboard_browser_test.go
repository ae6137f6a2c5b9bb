package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/loadgen"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// dashService is the web service with a pre-traffic hook that waits while
// the file hold exists, so the test decides when a deploy it started in the
// browser may go on: its steps are seen arriving, not read after the fact.
func dashService(hold string) string {
	return strings.Replace(fmt.Sprintf(webService, sampleBin), "    warm_for: 1m\n", fmt.Sprintf(`    warm_for: 10m
    hooks:
      pre_traffic: [[/bin/sh, -c, "while [ -e %s ]; do sleep 0.05; done"]]
`, hold), 1)
}

// dashTop is the control block (a deployer and a viewer token) and the
// dashboard, enabled on control.listen.
const dashTop = rolesTop + `dashboard:
  enabled: true
  commit_url: https://git.example/shop/commit/{commit}
`

// browserTab starts a headless Chromium (skipping the test when there is
// none) and returns a tab; every action on it is bounded by the deadline.
func browserTab(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("no chromium at %s (apt-get install -y chromium; .ci/run does): browser tests skipped", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, without a timeout (see chromedp.Run)
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// shots writes screenshots into a directory that outlives the test:
// $HOTSWAP_SCREENSHOTS, or a new temporary directory. The path is logged.
type shots struct {
	t   *testing.T
	dir string
}

func newShots(t *testing.T) *shots {
	dir := os.Getenv("HOTSWAP_SCREENSHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "hotswap-dashboard-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshots: %s", dir)
	return &shots{t: t, dir: dir}
}

func (s *shots) take(ctx context.Context, name string) {
	s.t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(s.dir, name+".png"), png, 0o644); err != nil {
		s.t.Error(err)
	}
}

// in runs browser actions with a deadline, failing the test with what.
func in(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(cctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// js evaluates an expression in the page.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(cctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// until waits for a JavaScript condition to hold in the page, without
// reloading it: what changes, changed through the live stream.
func until(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	in(t, ctx, "wait for "+what, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(25*time.Second))(ctx, tg)
		return chromedp.Void{}, err
	})
}

// text is the text content of the first element matching css ("" if none).
func text(css string) string {
	return fmt.Sprintf(`((document.querySelector(%q)||{}).textContent||"")`, css)
}

// accessible checks what a screen reader and a keyboard need on the page:
// every form control has a label, every button and link a name, and the
// page a language and one h1.
func accessible(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	bad := js[[]string](t, ctx, `[
		...[...document.querySelectorAll("input:not([type=hidden]), select, textarea")].filter(e => !e.labels || e.labels.length === 0).map(e => "unlabelled " + e.outerHTML),
		...[...document.querySelectorAll("button, a")].filter(e => e.textContent.trim() === "" && !e.getAttribute("aria-label")).map(e => "nameless " + e.outerHTML),
		...(document.documentElement.lang ? [] : ["no lang"]),
		...(document.querySelectorAll("h1").length === 1 ? [] : ["h1 count"])]`)
	if len(bad) != 0 {
		t.Errorf("%s: %v", page, bad)
	}
}

func login(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	in(t, ctx, "log in", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".who button"))) // only a logged-in page has it
}

// TestDashboardInBrowser drives the dashboard in a real headless Chromium
// against a real daemon: log in, see what is live, deploy and watch the
// steps arrive, roll back under load with no failed request, and the
// refusals — viewer actions, a POST without the CSRF token, a wrong token.
func TestDashboardInBrowser(t *testing.T) {
	ctx := browserTab(t)
	shot := newShots(t)
	dir := t.TempDir()
	hold := filepath.Join(dir, "hold")
	d := startDaemon(t, servicesConfig(t, dir, dashService(hold), dashTop), true)
	base := "http://" + d.ControlAddr()
	c := api.DialSocket(d.SocketPath(), "test")
	actx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := c.Deploy(actx, "web", api.DeployRequest{Version: "v1", Note: "first release", Commit: "0123456789abcdef"}); err != nil {
		t.Fatal(err)
	}
	waitFor(actx, t, "v1 live", func() bool {
		st, err := c.Status(actx, "web")
		return err == nil && st[0].Live != nil && st[0].Live.Version == "v1"
	})

	// A wrong token cannot log in.
	in(t, ctx, "wrong token", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "not-a-token-0123456789"), chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("[role=alert]")))
	if msg := js[string](t, ctx, text("[role=alert]")); !strings.Contains(msg, "not valid") {
		t.Fatalf("wrong token: alert %q", msg)
	}
	shot.take(ctx, "login-refused")
	accessible(t, ctx, "login-refused")

	login(t, ctx, base, "deployer-token-0123456789")
	until(t, ctx, "the live version on the overview", text("[data-role=live-version]")+` === "v1"`)
	until(t, ctx, "the live stream connected", text("#live-status")+`.startsWith("Live")`)
	shot.take(ctx, "overview")
	accessible(t, ctx, "overview")

	// Start a deploy of v2 from the service page and watch its steps arrive.
	in(t, ctx, "deploy v2", chromedp.Navigate(base+"/ui/services/web"), chromedp.WaitVisible(chromedp.CSS("#deploy-version")),
		chromedp.SendKeys(chromedp.CSS("#deploy-version"), "v2"), chromedp.Click(chromedp.CSS("#deploy-version ~ button")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-button")))
	if h := js[string](t, ctx, text("#what-h")); h != "Deploy web v2" {
		t.Fatalf("deploy confirmation says %q", h)
	}
	shot.take(ctx, "confirm-deploy")
	accessible(t, ctx, "confirm-deploy")
	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	in(t, ctx, "confirm deploy", chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#steps")))
	until(t, ctx, "the deploy's steps up to its hook", text("#steps")+`.includes("hook 1/1")`)
	if js[bool](t, ctx, text("#steps")+`.includes("is live")`) {
		t.Fatal("the deploy went live while its hook was held")
	}
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	until(t, ctx, "the rest of the deploy's steps, pushed to the open page",
		text("#steps")+`.includes("hook 1/1 succeeded") && `+text("#steps")+`.includes("traffic switched to v2") && `+text("#steps")+`.includes("is live")`)
	shot.take(ctx, "release-deploy")

	// Roll back to v1 from the overview, one click and a confirmation,
	// with load running through the proxy.
	load := loadgen.Start(actx, loadgen.Options{URL: "http://" + d.ProxyAddr(), Host: "web.test", Workers: 8, MaxRequests: 2_000_000})
	defer load.Stop()
	waitForTraffic(t, d, "web")
	in(t, ctx, "overview", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#services")))
	until(t, ctx, "v2 live and v1 warm", text("[data-role=live-version]")+` === "v2" && document.querySelector("#services button[data-action=rollback]") !== null`)
	until(t, ctx, "the live request rate", `/[1-9][0-9.]* req\/s/.test(`+text("#services")+`)`)
	shot.take(ctx, "overview-v2")
	in(t, ctx, "roll back", chromedp.Click(chromedp.CSS("#services button[data-action=rollback]")), chromedp.WaitVisible(chromedp.CSS("#confirm-button")))
	if h := js[string](t, ctx, text("#what-h")); h != "Roll web back from v2 to v1 (warm)" {
		t.Fatalf("rollback confirmation says %q", h)
	}
	shot.take(ctx, "confirm-rollback")
	accessible(t, ctx, "confirm-rollback")
	in(t, ctx, "confirm rollback", chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#steps")))
	until(t, ctx, "the rollback done", text("#steps")+`.includes("is live")`)
	shot.take(ctx, "release-rollback")
	after := load.Stop()
	t.Logf("load during the rollback: %s", after)
	if after.Failed != 0 {
		t.Errorf("%d requests failed during the dashboard rollback: %v", after.Failed, after.Failures)
	}
	if after.Versions["v1"] == 0 || after.Versions["v2"] == 0 {
		t.Errorf("responses per version %v: want both v2 (before) and v1 (after)", after.Versions)
	}
	for i := 0; i < 5; i++ {
		if _, v, _ := get(t, d, "web.test", "/"); v != "v1" {
			t.Fatalf("after the rollback the proxy answers with %q, want v1", v)
		}
	}
	in(t, ctx, "service page", chromedp.Navigate(base+"/ui/services/web"), chromedp.WaitVisible(chromedp.CSS("#history")))
	shot.take(ctx, "service")
	accessible(t, ctx, "service")
	in(t, ctx, "audit", chromedp.Navigate(base+"/ui/audit?service=web"), chromedp.WaitVisible(chromedp.CSS("table")))
	if a := js[string](t, ctx, text("table")); !strings.Contains(a, "dashboard rollback") || !strings.Contains(a, "alice") {
		t.Errorf("audit page lacks alice's dashboard rollback: %q", a)
	}
	shot.take(ctx, "audit")
	accessible(t, ctx, "audit")

	// Roll back to an earlier release that is no longer running: from the
	// history, v2 is started again and health-gated, then takes the traffic.
	in(t, ctx, "history rollback", chromedp.Navigate(base+"/ui/services/web"), chromedp.WaitVisible(chromedp.CSS("#history")),
		chromedp.Click(chromedp.CSS(`#history button[data-action=rollback]`)), chromedp.WaitVisible(chromedp.CSS("#confirm-button")))
	if h := js[string](t, ctx, text("#what-h")); h != "Roll web back from v1 to v2" {
		t.Fatalf("history rollback confirmation says %q", h)
	}
	if s := js[string](t, ctx, text("ol")); !strings.Contains(s, "v2 is started again and health-checked") {
		t.Errorf("history rollback confirmation does not say v2 is started again: %q", s)
	}
	in(t, ctx, "confirm history rollback", chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#steps")))
	until(t, ctx, "v2 live again", text("#steps")+`.includes("is live")`)
	if _, v, _ := get(t, d, "web.test", "/"); v != "v2" {
		t.Fatalf("after the history rollback the proxy answers with %q, want v2", v)
	}

	// Reading works without JavaScript: the page is whole as served.
	noScript := func(off bool) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: off})
			return chromedp.Void{}, err
		}
	}
	in(t, ctx, "service page without JavaScript", noScript(true), chromedp.Navigate(base+"/ui/services/web"), chromedp.WaitVisible(chromedp.CSS("#history")))
	if live, hist, st := js[string](t, ctx, text("[data-role=live-version]")), js[int](t, ctx, `document.querySelectorAll("#history tbody tr").length`),
		js[string](t, ctx, text("#live-status")); live != "v2" || hist != 4 || st != "Reload for the latest state." {
		t.Errorf("without JavaScript: live %q, %d history rows, status %q", live, hist, st)
	}
	in(t, ctx, "JavaScript back on", noScript(false))

	// A POST without the CSRF token, from the dashboard's own page, with
	// the session cookie: refused, nothing happens.
	status := js[int](t, ctx, `fetch("/ui/act", {method: "POST", body: new URLSearchParams({action: "rollback", service: "web", version: "v2", expect_live: "v1"})}).then(r => r.status)`)
	if status != http.StatusForbidden {
		t.Errorf("POST without CSRF token: %d, want 403", status)
	}

	// A viewer sees no action and its forged POST (with its own valid CSRF
	// token) is refused.
	in(t, ctx, "log out", chromedp.Click(chromedp.CSS(".who button")), chromedp.WaitVisible(chromedp.CSS("#token")))
	login(t, ctx, base, "viewer-token-0123456789ab")
	until(t, ctx, "the viewer's overview", text("[data-role=live-version]")+` === "v2"`)
	if n := js[int](t, ctx, `document.querySelectorAll("form[action$='/confirm'], #deploy-version, [data-action]").length`); n != 0 {
		t.Errorf("viewer overview shows %d action controls", n)
	}
	in(t, ctx, "viewer service page", chromedp.Navigate(base+"/ui/services/web"), chromedp.WaitVisible(chromedp.CSS("#history")))
	if n := js[int](t, ctx, `document.querySelectorAll("form[action$='/confirm'], #deploy-version, [data-action]").length`); n != 0 {
		t.Errorf("viewer service page shows %d action controls", n)
	}
	shot.take(ctx, "service-viewer")
	accessible(t, ctx, "service-viewer")
	status = js[int](t, ctx, `fetch("/ui/act", {method: "POST", body: new URLSearchParams({csrf: document.querySelector("input[name=csrf]").value,
		action: "rollback", service: "web", version: "v1", expect_live: "v2"})}).then(r => r.status)`)
	if status != http.StatusForbidden {
		t.Errorf("viewer's forged POST: %d, want 403", status)
	}
	// Phone-sized: the overview still reads.
	in(t, ctx, "phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#services")))
	if w := js[int](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("phone overview is %dpx wide: scrolls sideways", w)
	}
	shot.take(ctx, "overview-phone")

	rels, err := c.Releases(actx, "web", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 4 || rels[0].Kind != "rollback" || rels[0].Version != "v2" || rels[1].Version != "v1" || rels[0].Source != "dashboard" || rels[0].Actor != "alice" {
		t.Errorf("history: %+v; want alice's two dashboard rollbacks on top and nothing after them", rels)
	}
	measurePages(t, ctx, base)
}

// measurePages logs each page's weight (HTML plus the CSS and script it
// loads, uncompressed bytes) and the browser's first contentful paint, for
// bench/RESULTS.md. Figures, not assertions.
func measurePages(t *testing.T, ctx context.Context, base string) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, base+"/ui/login", strings.NewReader(url.Values{"token": {"deployer-token-0123456789"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	size := func(path string) int {
		r, err := hc.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var n int
		buf := make([]byte, 32<<10)
		for {
			m, err := r.Body.Read(buf)
			n += m
			if err != nil {
				return n
			}
		}
	}
	css, script := size("/ui/static/style.css"), size("/ui/static/app.js")
	in(t, ctx, "desktop", chromedp.EmulateViewport(1280, 900))
	// The floor in the same run: a one-paragraph page from a plain Go server.
	const floorPage = `<!doctype html><title>x</title><main id="main"><p>baseline</p></main>`
	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, floorPage) }))
	defer floor.Close()
	for _, p := range []string{"floor", "/ui/login", "/ui/", "/ui/services/web", "/ui/releases/1", "/ui/audit"} {
		target, html := base+p, len(floorPage)
		if p == "floor" {
			target = floor.URL
		} else {
			html = size(p)
		}
		in(t, ctx, "open "+p, chromedp.Navigate(target), chromedp.WaitVisible(chromedp.CSS("#main")))
		// The paint entry may land just after the element shows: wait for it
		// (at most 2 s; -1 then).
		m := js[string](t, ctx, `new Promise(done => { const t0 = Date.now(); const f = () => {
			const p = performance.getEntriesByName("first-contentful-paint")[0];
			if (p || Date.now() - t0 > 2000) { done(JSON.stringify({fcp: p ? p.startTime : -1,
				dcl: performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd})); } else { setTimeout(f, 20); } }; f(); })`)
		var pm struct{ FCP, DCL float64 }
		_ = json.Unmarshal([]byte(m), &pm)
		total := html + css
		switch p {
		case "floor":
			total = html
		case "/ui/login":
		default:
			total += script
		}
		t.Logf("page %-16s html %6d B, with css+js %6d B; first contentful paint %5.1f ms, DOMContentLoaded %5.1f ms",
			p, html, total, pm.FCP, pm.DCL)
	}
}

// TestDashboardCanaryPromote: during a canary held for approval the
// service page shows the traffic split per version, live, and promoting it
// from the dashboard moves all traffic to the new version.
func TestDashboardCanaryPromote(t *testing.T) {
	ctx := browserTab(t)
	shot := newShots(t)
	dir := t.TempDir()
	svc := strings.Replace(fmt.Sprintf(canaryService, sampleBin, "200ms", "200ms"),
		"      sticky_cookie: shop_canary\n", "      sticky_cookie: shop_canary\n      approval_before_last: true\n", 1)
	d := startDaemon(t, servicesConfig(t, dir, svc, dashTop), true)
	base := "http://" + d.ControlAddr()
	c := api.DialSocket(d.SocketPath(), "test")
	actx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mustDeploy(actx, t, c, "shop", "v1", "live")
	load := loadgen.Start(actx, loadgen.Options{URL: "http://" + d.ProxyAddr(), Host: "shop.test", Workers: 4, MaxRequests: 1_000_000})
	defer load.Stop()
	acc, err := c.Deploy(actx, "shop", api.DeployRequest{Version: "v2", Note: "new checkout"})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(actx, t, c, acc.Release.ID, "approval", "waiting for approval")

	login(t, ctx, base, "deployer-token-0123456789")
	in(t, ctx, "service page", chromedp.Navigate(base+"/ui/services/shop"), chromedp.WaitVisible(chromedp.CSS("#status")))
	until(t, ctx, "the canary split with traffic on both versions",
		text("#status")+`.includes("v2 gets 50% of clients") && document.querySelectorAll("#status tbody tr").length === 2 &&
			[...document.querySelectorAll("#status tbody tr")].every(r => parseFloat(r.cells[3].textContent) > 0)`)
	until(t, ctx, "the deploy's steps", text("#active")+`.includes("waiting for approval")`)
	shot.take(ctx, "service-canary")

	in(t, ctx, "promote", chromedp.Click(chromedp.CSS("#actions button[data-action=promote]")), chromedp.WaitVisible(chromedp.CSS("#confirm-button")))
	if h := js[string](t, ctx, text("#what-h")); h != fmt.Sprintf("Promote shop v2 (release #%d)", acc.Release.ID) {
		t.Fatalf("promote confirmation says %q", h)
	}
	in(t, ctx, "confirm promote", chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#steps")))
	until(t, ctx, "v2 live", text("#steps")+`.includes("is live")`)
	res := load.Stop()
	t.Logf("load during the canary and promotion: %s", res)
	if res.Failed != 0 {
		t.Errorf("%d requests failed: %v", res.Failed, res.Failures)
	}
	if v := getWith(t, d, "shop.test", "", ""); v != "v2" {
		t.Errorf("after promotion the proxy answers with %s", v)
	}

	// Abort the next canary from the dashboard: v2 keeps every request.
	acc, err = c.Deploy(actx, "shop", api.DeployRequest{Version: "v3"})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(actx, t, c, acc.Release.ID, "approval", "waiting for approval")
	in(t, ctx, "abort", chromedp.Navigate(base+"/ui/services/shop"), chromedp.WaitVisible(chromedp.CSS("#actions button[data-action=abort]")),
		chromedp.Click(chromedp.CSS("#actions button[data-action=abort]")), chromedp.WaitVisible(chromedp.CSS("#confirm-button")))
	if h := js[string](t, ctx, text("#what-h")); h != fmt.Sprintf("Abort the deploy of shop v3 (release #%d)", acc.Release.ID) {
		t.Fatalf("abort confirmation says %q", h)
	}
	in(t, ctx, "confirm abort", chromedp.Click(chromedp.CSS("#confirm-button")), chromedp.WaitVisible(chromedp.CSS("#release-head")))
	until(t, ctx, "v3 aborted", text("#release-head")+`.includes("aborted")`)
	settle(actx, t, c, acc.Release.ID, "aborted")
	if v := getWith(t, d, "shop.test", "", ""); v != "v2" {
		t.Errorf("after the abort the proxy answers with %s, want v2", v)
	}
}
