// Package dashboard is hotswap's web dashboard: anyone on the team with a
// token sees what runs where and can roll back in one click, without
// knowing the CLI. It is served by the daemon itself (on control.listen,
// under /ui/), with no external assets: server-rendered html/template pages
// and a few embedded files. Pages work without JavaScript; with it, a small
// script applies live updates pushed over Server-Sent Events, fed by the
// same change signal the CLI's event stream follows.
//
// Security: people log in with a control token, exchanged for a random
// session id in an HttpOnly, SameSite=Strict cookie (Secure over TLS) with
// a server-side expiry. Every action is a POST from a confirmation page
// that says exactly what will happen, carrying the session's CSRF token
// (checked in constant time) from a same-origin page (Origin and
// Sec-Fetch-Site are checked). Viewer tokens see no actions and are refused
// if they forge one. Everything done here lands in the audit log under the
// token's name.
//
// The package knows nothing of the engine or the store: it declares
// Backend, in its own view types, and the daemon adapts to it.
package dashboard

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

//go:embed web
var webFS embed.FS

// Options configures a Handler.
type Options struct {
	Backend Backend
	Tokens  []Token
	// Prefix is the path the dashboard is mounted at. Default "/ui".
	Prefix string
	// PublicURL is how people reach the dashboard (https://host/ui/); its
	// origin is accepted on actions and an https one makes cookies Secure.
	PublicURL string
	// CommitURL links commits: "{commit}" is replaced. "" = no links.
	CommitURL string
	// SessionTTL is how long a login lasts. Default 12h.
	SessionTTL time.Duration
	// LinkKey verifies signed rollback links; nil refuses every link.
	LinkKey []byte
	Log     *slog.Logger
}

// Handler serves the dashboard. Its only mutable state is the session store,
// the failed-login throttle, the rate sampler and the shared services
// snapshot, each guarded by its own mutex.
type Handler struct {
	b            Backend
	tokens       []Token
	prefix       string
	publicOrigin string
	publicTLS    bool
	commitURL    string
	linkKey      []byte
	log          *slog.Logger
	sessions     *sessions
	throttle     *throttle
	rates        *rates
	snap         snapshot
	pages        map[string]*template.Template
	mux          *http.ServeMux
	now          func() time.Time
	closing      chan struct{} // closed by Close: live streams end
	closeOnce    sync.Once
}

// New builds the dashboard handler.
func New(o Options) (*Handler, error) {
	if o.Prefix == "" {
		o.Prefix = "/ui"
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	h := &Handler{b: o.Backend, tokens: o.Tokens, prefix: strings.TrimSuffix(o.Prefix, "/"),
		publicOrigin: originOf(o.PublicURL), publicTLS: strings.HasPrefix(o.PublicURL, "https://"),
		commitURL: o.CommitURL, linkKey: o.LinkKey, log: o.Log,
		sessions: newSessions(o.SessionTTL), throttle: newThrottle(), rates: newRates(), now: time.Now, closing: make(chan struct{})}
	pages, err := h.parseTemplates()
	if err != nil {
		return nil, err
	}
	h.pages = pages
	h.mux = h.routes()
	return h, nil
}

func (h *Handler) routes() *http.ServeMux {
	p := h.prefix
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p+"/static/", h.static)
	mux.HandleFunc("GET "+p+"/login", h.loginPage)
	mux.HandleFunc("POST "+p+"/login", h.login)
	mux.HandleFunc("POST "+p+"/logout", h.authed(h.logout))
	mux.HandleFunc("GET "+p+"/{$}", h.authed(h.overview))
	mux.HandleFunc("GET "+p+"/services/{service}", h.authed(h.servicePage))
	mux.HandleFunc("GET "+p+"/releases/{id}", h.authed(h.releasePage))
	mux.HandleFunc("GET "+p+"/audit", h.authed(h.auditPage))
	mux.HandleFunc("GET "+p+"/confirm", h.authed(h.confirm))
	mux.HandleFunc("GET "+p+linkPath, h.authed(h.rollbackLink))
	mux.HandleFunc("POST "+p+"/act", h.authed(h.act))
	mux.HandleFunc("GET "+p+"/live", h.authed(h.live))
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, nil, http.StatusNotFound, "No such page.")
	})
	return mux
}

// Close ends every live stream, so that a daemon shutting down does not
// wait for open dashboards; browsers reconnect to the next daemon.
func (h *Handler) Close() { h.closeOnce.Do(func() { close(h.closing) }) }

// ServeHTTP serves every dashboard path with the security headers all its
// pages share.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	// Signed links must not leak to other sites through Referer; "no-referrer"
	// would also make browsers send "Origin: null" on form posts.
	hd.Set("Referrer-Policy", "same-origin")
	if r.URL.Path == h.prefix {
		http.Redirect(w, r, h.prefix+"/", http.StatusMovedPermanently)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// secure reports whether cookies must be Secure: served over TLS here, or
// reached through an https public URL (a TLS-terminating proxy).
func (h *Handler) secure(r *http.Request) bool { return r.TLS != nil || h.publicTLS }

// authed requires a session: pages redirect to the login (coming back
// afterwards), anything else gets 401.
func (h *Handler) authed(fn func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := h.sessionOf(r)
		if s == nil {
			if r.Method == http.MethodGet && r.URL.Path != h.prefix+"/live" {
				http.Redirect(w, r, h.prefix+"/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.fail(w, r, nil, http.StatusUnauthorized, "Log in first.")
			return
		}
		fn(w, r, s)
	}
}

func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, h.prefix+"/static/")
	b, err := webFS.ReadFile("web/" + name)
	if err != nil || strings.HasSuffix(name, ".html") {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(b)
}
