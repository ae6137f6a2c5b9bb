package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// splitGet sends one request with optional cookies and headers and returns
// the version that answered and the sticky cookie it was given ("" if none).
func splitGet(t testing.TB, f *front, cookie string, hdr http.Header) (version, sticky string) {
	t.Helper()
	req := f.request(t, http.MethodGet, "example.com", "/", nil)
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "hotswap_bucket" {
			sticky = c.Name + "=" + c.Value
		}
	}
	return trimNL(string(b)), sticky
}

// TestCanarySplit: 10,000 cookie-less clients split within ±2 points of the
// weight, each told its bucket, and the bucket decides the version. The
// requests enter through ServeHTTP (the client side of 10,000 socket round
// trips under -race would dominate the test's time); targets are real.
func TestCanarySplit(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	s.Switch(target(t, s, "v1", backend(t, "v1", nil)))
	canary := target(t, s, "v2", backend(t, "v2", nil))
	s.SetCanary(canary, 30)
	if tg, pct := s.Canary(); tg != canary || pct != 30 {
		t.Fatalf("Canary() = %v, %v", tg, pct)
	}

	const total, workers = 10000, 8
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Host = "example.com"
				f.p.ServeHTTP(rec, req)
				v, sticky := trimNL(rec.Body.String()), ""
				for _, c := range rec.Result().Cookies() {
					if c.Name == "hotswap_bucket" {
						sticky = c.Name + "=" + c.Value
					}
				}
				b, err := strconv.Atoi(strings.TrimPrefix(sticky, "hotswap_bucket="))
				if err != nil {
					t.Errorf("no usable sticky cookie: %q", sticky)
					return
				}
				if want := map[bool]string{true: "v2", false: "v1"}[b < 3000]; v != want {
					t.Errorf("bucket %d served by %s, want %s", b, v, want)
				}
				mu.Lock()
				counts[v]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	share := float64(counts["v2"]) * 100 / total
	if share < 28 || share > 32 {
		t.Fatalf("canary share %.2f%% (%v), want 30±2", share, counts)
	}
	t.Logf("canary share %.2f%% over %d requests", share, total)
}

// TestCanarySticky: a client with the cookie keeps its version, raising
// the weight only moves clients towards the canary, and clearing the
// canary stops cookies.
func TestCanarySticky(t *testing.T) {
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	s.Switch(target(t, s, "v1", backend(t, "v1", nil)))
	v2 := target(t, s, "v2", backend(t, "v2", nil))
	s.SetCanary(v2, 50)

	onVersion := map[string]string{} // version → a cookie that led there
	for len(onVersion) < 2 {
		v, sticky := splitGet(t, f, "", nil)
		if sticky == "" {
			t.Fatal("no sticky cookie on a cookie-less request during a canary")
		}
		onVersion[v] = sticky
	}
	for v, cookie := range onVersion {
		for i := 0; i < 50; i++ {
			got, sticky := splitGet(t, f, cookie, nil)
			if got != v {
				t.Fatalf("client with %s moved from %s to %s", cookie, v, got)
			}
			if sticky != "" {
				t.Fatalf("client with a valid cookie was given another: %s", sticky)
			}
		}
	}
	s.SetCanary(v2, 0)
	if got, _ := splitGet(t, f, onVersion["v2"], nil); got != "v1" {
		t.Errorf("weight 0: a former canary client served by %s, want v1", got)
	}
	can := target(t, s, "v3", backend(t, "v3", nil))
	s.SetCanary(can, 100)
	if got, _ := splitGet(t, f, onVersion["v1"], nil); got != "v3" {
		t.Errorf("weight 100: served by %s, want the canary", got)
	}
	if got, _ := splitGet(t, f, "hotswap_bucket=junk", nil); got != "v3" {
		t.Errorf("invalid cookie at weight 100: served by %s", got)
	}
	// A canary drained while still set falls back to live, never 503.
	if err := can.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := splitGet(t, f, onVersion["v2"], nil); got != "v1" {
		t.Errorf("drained canary: served by %s, want live v1", got)
	}
	s.ClearCanary()
	got, sticky := splitGet(t, f, "", nil)
	if got != "v1" || sticky != "" {
		t.Errorf("after ClearCanary: %s with cookie %q, want v1 and no cookie", got, sticky)
	}
}

// TestPreview: only the preview secret, in the header or the cookie,
// reaches the preview target; without a configured secret a random one is
// generated per preview, and any other value (or none) does not reach it.
func TestPreview(t *testing.T) {
	const generated = "<generated>"
	for _, tc := range []struct {
		name, value string
		hdr         string // header value; generated = the secret SetPreview returned
		cookie      string
		want        string
	}{
		{"header generated secret", "", generated, "", "v3"},
		{"cookie generated secret", "", "", generated, "v3"},
		{"header any value without a configured secret", "", "1", "", "v1"},
		{"cookie any value without a configured secret", "", "", "yes", "v1"},
		{"empty header", "", "", "", "v1"},
		{"header configured secret", "s3cret-s3cret-s3cret", "s3cret-s3cret-s3cret", "", "v3"},
		{"header wrong value", "s3cret-s3cret-s3cret", "guess", "", "v1"},
		{"cookie configured secret", "s3cret-s3cret-s3cret", "", "s3cret-s3cret-s3cret", "v3"},
		{"cookie wrong value", "s3cret-s3cret-s3cret", "", "1", "v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFront(t, Options{})
			s := f.service(t, "web", "example.com", "", ServiceOptions{PreviewValue: tc.value})
			s.Switch(target(t, s, "v1", backend(t, "v1", nil)))
			secret := s.SetPreview(target(t, s, "v3", backend(t, "v3", nil)))
			if secret == "" || (tc.value != "" && secret != tc.value) || s.PreviewSecret() != secret {
				t.Fatalf("secret %q (PreviewSecret %q), configured %q", secret, s.PreviewSecret(), tc.value)
			}
			sub := func(v string) string {
				if v == generated {
					return secret
				}
				return v
			}
			var hdr http.Header
			if tc.hdr != "" {
				hdr = http.Header{"X-Hotswap-Preview": {sub(tc.hdr)}}
			}
			cookie := "a=b"
			if tc.cookie != "" {
				cookie += "; hotswap_preview=" + sub(tc.cookie)
			}
			if got, _ := splitGet(t, f, cookie, hdr); got != tc.want {
				t.Fatalf("served by %s, want %s", got, tc.want)
			}
			s.ClearPreview()
			if got, _ := splitGet(t, f, cookie, hdr); got != "v1" || s.PreviewSecret() != "" {
				t.Fatalf("after ClearPreview served by %s (secret %q), want v1", got, s.PreviewSecret())
			}
		})
	}
	// Each preview gets its own generated secret.
	f := newFront(t, Options{})
	s := f.service(t, "web", "example.com", "", ServiceOptions{})
	a := s.SetPreview(target(t, s, "v2", backend(t, "v2", nil)))
	b := s.SetPreview(target(t, s, "v3", backend(t, "v3", nil)))
	if a == b || len(a) != 32 {
		t.Errorf("generated secrets %q and %q: want two different 32-hex-digit values", a, b)
	}
}
