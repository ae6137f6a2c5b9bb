package dashboard

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzRollbackLink: a link's query comes from whoever holds (or forges) the
// URL. verifyLink must accept exactly the signed, unexpired ones.
func FuzzRollbackLink(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	good, _ := url.Parse(RollbackLink(testKey, "https://d.example/ui/", "web", 42, now.Add(time.Hour)))
	f.Add(good.RawQuery)
	f.Add("service=web&release=42&exp=1800003600&sig=00")
	f.Add("service=web&service=api&release=42&exp=1800003600&sig=" + good.Query().Get("sig"))
	f.Add("release=-1&exp=-9223372036854775808")
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		svc, rel, err := verifyLink(testKey, q, now)
		if err != nil {
			return
		}
		exp, perr := strconv.ParseInt(q.Get("exp"), 10, 64)
		if perr != nil || q.Get("sig") != linkMAC(testKey, svc, rel, exp) || exp <= now.Unix() {
			t.Fatalf("accepted %q: service %q release %d", raw, svc, rel)
		}
	})
}

// FuzzSafeNext: the post-login redirect comes from a query string; it must
// always stay on the dashboard.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/ui/services/web", "//evil.example/", "/ui/\\\\evil", "https://evil/ui/", "/ui/%2F%2Fevil", "/ui/../x"} {
		f.Add(s)
	}
	h := &Handler{prefix: "/ui"}
	f.Fuzz(func(t *testing.T, next string) {
		got := h.safeNext(next)
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(got, "/ui/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("safeNext(%q) = %q leaves the dashboard", next, got)
		}
	})
}
