package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxForm bounds every form body the dashboard reads.
const maxForm = 64 << 10

// loginData is the login page.
type loginData struct {
	Next  string
	Error string
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, http.StatusOK, "login", h.newPage(nil, "Log in", loginData{Next: h.safeNext(r.URL.Query().Get("next"))}))
}

// login exchanges a control token for a session. A failed attempt is
// audited (without the token) and changes nothing.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	next := h.safeNext(r.PostFormValue("next"))
	if !h.sameOrigin(r) {
		h.audit(r, "", "dashboard login", "", "", "rejected", errCrossSite.Error())
		h.fail(w, r, nil, http.StatusForbidden, errCrossSite.Error())
		return
	}
	addr := host(r.RemoteAddr)
	if h.throttle.blocked(addr, h.now()) {
		h.audit(r, "?", "dashboard login", "", "", "rejected", "too many failed logins")
		w.Header().Set("Retry-After", "60")
		h.render(w, http.StatusTooManyRequests, "login", h.newPage(nil, "Log in", loginData{Next: next,
			Error: "Too many failed logins from your address; wait a minute."}))
		return
	}
	tok, ok := match(h.tokens, r.PostFormValue("token"))
	if !ok {
		h.throttle.failed(addr, h.now())
		h.audit(r, "?", "dashboard login", "", "", "rejected", "invalid token")
		h.render(w, http.StatusUnauthorized, "login", h.newPage(nil, "Log in", loginData{Next: next, Error: "That token is not valid."}))
		return
	}
	s := h.sessions.create(tok)
	if s == nil {
		h.fail(w, r, nil, http.StatusServiceUnavailable, "Too many sessions; try again later.")
		return
	}
	h.setCookie(w, r, s.id, int(h.sessions.ttl.Seconds()))
	h.audit(r, tok.Name, "dashboard login", "", "", "ok", "")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, s *session) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := h.checkAction(r, s); err != nil {
		h.fail(w, r, s, http.StatusForbidden, err.Error())
		return
	}
	h.sessions.remove(s.id)
	h.setCookie(w, r, "", -1)
	http.Redirect(w, r, h.prefix+"/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on the dashboard: a path under the
// prefix, never another host (//evil, /\evil, https://evil).
func (h *Handler) safeNext(next string) string {
	home := h.prefix + "/"
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil ||
		!strings.HasPrefix(next, home) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return home
	}
	return next
}

// audit records something done (or refused) in the dashboard.
func (h *Handler) audit(r *http.Request, actor, action, service, version, outcome, detail string) {
	if actor == "" {
		actor = "?"
	}
	h.b.Record(context.WithoutCancel(r.Context()), AuditView{At: h.now(), Actor: actor, Source: "dashboard", Action: clip(action),
		Service: clip(service), Version: clip(version), Outcome: outcome, Detail: detail, Remote: r.RemoteAddr})
}

// maxField bounds what a form puts into one audit field: a refused request
// is recorded, but must not grow the log by the size of its body.
const maxField = 200

// clip cuts s to at most maxField bytes, on a character boundary.
func clip(s string) string {
	if len(s) <= maxField {
		return s
	}
	cut := maxField
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
