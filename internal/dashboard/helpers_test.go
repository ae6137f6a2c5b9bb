package dashboard

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted is a Backend whose state the test sets; it records actions and
// audit entries. The real backend is exercised by the browser test in
// internal/daemon.
type scripted struct {
	mu       sync.Mutex
	services []ServiceView
	releases []ReleaseView
	steps    []StepView
	acts     []Action
	audits   []AuditView
	changed  chan struct{}
}

func newScripted() *scripted {
	now := time.Now()
	return &scripted{
		changed: make(chan struct{}),
		services: []ServiceView{{Name: "web", Hosts: []string{"web.test"},
			Live:      &VersionView{Version: "v2", Release: 2, Since: now, Health: "healthy", Requests: 10},
			Warm:      &VersionView{Version: "v1", Release: 1, Since: now, Health: "healthy"},
			WarmUntil: now.Add(10 * time.Minute)}},
		releases: []ReleaseView{
			{ID: 2, Service: "web", Version: "v2", Kind: "deploy", State: "live", Trigger: "api", Actor: "ci", Created: now, Settled: true},
			{ID: 1, Service: "web", Version: "v1", Kind: "deploy", State: "warm", Trigger: "api", Actor: "ci", Created: now, Settled: true},
		},
	}
}

func (s *scripted) Services(context.Context) ([]ServiceView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ServiceView(nil), s.services...), nil
}

func (s *scripted) Releases(_ context.Context, svc string, _ int) ([]ReleaseView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ReleaseView(nil), s.releases...), nil
}

func (s *scripted) Release(_ context.Context, id int64) (ReleaseView, []StepView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.releases {
		if r.ID == id {
			return r, s.steps, nil
		}
	}
	return ReleaseView{}, nil, ErrNotFound
}

func (s *scripted) Audit(context.Context, string, int) ([]AuditView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AuditView(nil), s.audits...), nil
}

func (s *scripted) Act(_ context.Context, a Action) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acts = append(s.acts, a)
	return 3, nil
}

func (s *scripted) Record(_ context.Context, e AuditView) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audits = append(s.audits, e)
}

func (s *scripted) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *scripted) actions() []Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Action(nil), s.acts...)
}

const (
	deployerSecret = "deployer-secret-0123456789"
	viewerSecret   = "viewer-secret-0123456789ab"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// newServer serves a dashboard over a scripted backend on a real socket.
func newServer(t testing.TB, b Backend, mod func(*Options)) (*Handler, *httptest.Server) {
	t.Helper()
	o := Options{Backend: b, Tokens: []Token{{Name: "alice", Secret: []byte(deployerSecret), CanAct: true},
		{Name: "victor", Secret: []byte(viewerSecret)}}, LinkKey: testKey,
		CommitURL: "https://git.example/c/{commit}"}
	if mod != nil {
		mod(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

// browser is an HTTP client with cookies that does not follow redirects and
// sends what a browser sends on a same-origin form post.
type browser struct {
	t    testing.TB
	base string
	c    *http.Client
}

func newBrowser(t testing.TB, srv *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: srv.URL, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	body := readAll(resp)
	return resp.StatusCode, body, resp.Header
}

// post sends a form; hdr adds or overrides headers (Origin, Sec-Fetch-Site).
func (b *browser) post(path string, form url.Values, hdr map[string]string) (int, string, http.Header) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body := readAll(resp)
	return resp.StatusCode, body, resp.Header
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (b *browser) login(secret string) {
	b.t.Helper()
	if code, body, _ := b.post("/ui/login", url.Values{"token": {secret}}, nil); code != http.StatusSeeOther {
		b.t.Fatalf("login: %d %s", code, body)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the session's CSRF token from a page.
func (b *browser) csrf() string {
	b.t.Helper()
	_, body, _ := b.get("/ui/")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no csrf token on the page:\n%s", body)
	}
	return m[1]
}
