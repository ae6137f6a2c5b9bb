package dashboard

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
)

// errCrossSite is a state-changing request that did not come from one of
// the dashboard's own pages.
var errCrossSite = errors.New("refused: the request did not come from the dashboard's own page (CSRF check)")

// sameOrigin checks what the browser says about where a POST came from.
// Browsers send Sec-Fetch-Site and Origin on every POST; a request from
// another site says so, and is refused. Clients that send neither (curl)
// are left to the CSRF token, which they cannot have without a session.
func (h *Handler) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if origin == "null" { // sandboxed frames, privacy-redirected requests
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if origin == scheme+"://"+r.Host {
		return true
	}
	return h.publicOrigin != "" && origin == h.publicOrigin
}

// checkAction is the CSRF protection of every action: the browser's origin
// headers, then the session's CSRF token in the form, compared in
// constant time.
func (h *Handler) checkAction(r *http.Request, s *session) error {
	if !h.sameOrigin(r) {
		return errCrossSite
	}
	given := r.PostFormValue("csrf")
	if given == "" || subtle.ConstantTimeCompare([]byte(given), []byte(s.csrf)) != 1 {
		return errCrossSite
	}
	return nil
}

// originOf is scheme://host of a URL, "" when it has none.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
