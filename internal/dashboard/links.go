package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Signed rollback links let a notification point at the confirmation page
// for rolling one deploy back. The link only names what to confirm: the
// page is still behind login, and the action behind the session's CSRF
// token, so a leaked link lets nobody do anything. The signature (HMAC-
// SHA256 with a key kept in the daemon's state dir) stops a link from being
// edited to point at another service or release, and the expiry bounds how
// long an old chat message stays actionable.

// linkPath is where rollback links land, under the dashboard's prefix.
const linkPath = "/link/rollback"

var (
	errLinkExpired = errors.New("this rollback link has expired; open the service page instead")
	errLinkInvalid = errors.New("this rollback link is not valid (altered or from another daemon)")
)

// linkMAC signs the fields a link carries, unambiguously separated.
func linkMAC(key []byte, service string, rel int64, exp int64) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "rollback\n%s\n%d\n%d", service, rel, exp)
	return hex.EncodeToString(m.Sum(nil))
}

// RollbackLink is the signed, expiring URL of the confirmation page for
// rolling back release rel of service, valid until exp. base is the
// dashboard's public URL (dashboard.public_url, ending in its /ui/ path).
func RollbackLink(key []byte, base, service string, rel int64, exp time.Time) string {
	q := url.Values{}
	q.Set("service", service)
	q.Set("release", strconv.FormatInt(rel, 10))
	q.Set("exp", strconv.FormatInt(exp.Unix(), 10))
	q.Set("sig", linkMAC(key, service, rel, exp.Unix()))
	return strings.TrimSuffix(base, "/") + linkPath + "?" + q.Encode()
}

// verifyLink checks a link's signature (in constant time) and expiry and
// returns what it names.
func verifyLink(key []byte, q url.Values, now time.Time) (service string, rel int64, err error) {
	service = q.Get("service")
	rel, err1 := strconv.ParseInt(q.Get("release"), 10, 64)
	exp, err2 := strconv.ParseInt(q.Get("exp"), 10, 64)
	if len(key) == 0 || err1 != nil || err2 != nil || service == "" {
		return "", 0, errLinkInvalid
	}
	if !hmac.Equal([]byte(q.Get("sig")), []byte(linkMAC(key, service, rel, exp))) {
		return "", 0, errLinkInvalid
	}
	if now.Unix() >= exp {
		return "", 0, errLinkExpired
	}
	return service, rel, nil
}

// LoadKey reads the link-signing key from path, creating a random one
// (mode 0600, written to a temp file, synced, renamed) when there is none,
// so links survive daemon restarts.
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key, derr := hex.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(key) < 32 {
			return nil, fmt.Errorf("dashboard key %s: want 64 hex digits", path)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("dashboard key: %w", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dashboard key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("dashboard key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("dashboard key: %w", err)
	}
	return key, nil
}
