package proxy

import (
	"crypto/subtle"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
)

// bucketScale is the number of canary buckets: percentages have a
// resolution of 0.01.
const bucketScale = 10000

// canarySplit is an immutable canary setting: buckets below threshold go
// to target.
type canarySplit struct {
	target    *Target
	threshold int
}

// clientBucket returns the client's bucket from the sticky cookie, or a
// fresh random one (fromCookie false) when the cookie is absent or invalid.
func clientBucket(r *http.Request, cookie string) (b int, fromCookie bool) {
	if v, ok := cookieValue(r, cookie); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n < bucketScale {
			return n, true
		}
	}
	return rand.IntN(bucketScale), false
}

// stickyCookie is the Set-Cookie value that pins a client to bucket b.
func stickyCookie(name string, b int) string {
	return name + "=" + strconv.Itoa(b) + "; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax"
}

// wantsPreview reports whether r carries the preview secret in the
// configured header or cookie. The secret is never empty.
func wantsPreview(r *http.Request, o *serviceConfig, secret string) bool {
	if vs := r.Header[o.PreviewHeader]; len(vs) > 0 && secretMatches(vs[0], secret) {
		return true
	}
	v, ok := cookieValue(r, o.PreviewCookie)
	return ok && secretMatches(v, secret)
}

func secretMatches(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// cookieValue finds one cookie without parsing (and allocating) them all as
// r.Cookie does.
func cookieValue(r *http.Request, name string) (string, bool) {
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if ok && k == name {
				return strings.Trim(v, `"`), true
			}
		}
	}
	return "", false
}
