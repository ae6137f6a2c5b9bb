package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Token is one control token that may log in. Its name is the actor of
// everything done in its session.
type Token struct {
	Name   string
	Secret []byte
	// CanAct is the deployer role; without it the session only reads.
	CanAct bool
}

// session is one login. Immutable after creation.
type session struct {
	id      string
	name    string
	canAct  bool
	csrf    string // per-session token every action form carries
	expires time.Time
}

// maxSessions bounds the session store; logging in beyond it evicts
// expired sessions first, then refuses.
const maxSessions = 10000

// sessions is the server-side session store. Sessions live in memory only:
// a daemon restart logs everyone out, which is the safe direction.
type sessions struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex // guards byID
	by map[string]*session
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{ttl: ttl, now: time.Now, by: map[string]*session{}}
}

// randomID is 32 bytes from the system's CSPRNG, URL-safe.
func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for tok; nil when the store is full.
func (s *sessions) create(tok Token) *session {
	now := s.now()
	ss := &session{id: randomID(), name: tok.Name, canAct: tok.CanAct, csrf: randomID(), expires: now.Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.by) >= maxSessions {
		for id, o := range s.by {
			if !now.Before(o.expires) {
				delete(s.by, id)
			}
		}
		if len(s.by) >= maxSessions {
			return nil
		}
	}
	s.by[ss.id] = ss
	return ss
}

// get returns the live session with this id; an expired one is forgotten.
func (s *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.by[id]
	if ss == nil {
		return nil
	}
	if !s.now().Before(ss.expires) {
		delete(s.by, id)
		return nil
	}
	return ss
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	delete(s.by, id)
	s.mu.Unlock()
}

// cookieName is the session cookie. The __Host- prefix (which requires
// Secure and Path=/) is not used because the dashboard lives under /ui/ and
// may be served over plain HTTP on loopback.
const cookieName = "hotswap_session"

// match finds the token whose secret equals given, comparing against every
// token in constant time so the timing does not tell which one matched.
func match(tokens []Token, given string) (Token, bool) {
	var tok Token
	found := 0
	for _, t := range tokens {
		if subtle.ConstantTimeCompare([]byte(given), t.Secret) == 1 {
			tok, found = t, 1
		}
	}
	return tok, found == 1
}

// setCookie writes the session cookie: HttpOnly (no script reads it),
// SameSite=Strict (no other site's page sends it), Secure when the
// dashboard is reached over TLS, scoped to the dashboard's path.
func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: value, Path: h.prefix + "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteStrictMode})
}

// sessionOf returns the request's session, or nil.
func (h *Handler) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	return h.sessions.get(c.Value)
}
