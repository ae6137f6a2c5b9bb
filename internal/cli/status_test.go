package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
)

func TestPrintCertificates(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var b strings.Builder
	printCertificates(&b, []api.Certificate{
		{Host: "example.com", Source: "acme", Issuer: "Let's Encrypt R11", NotAfter: now.Add(60 * 24 * time.Hour)},
		{Host: "", Source: "file", Issuer: "Corp CA", NotAfter: now.Add(3 * time.Hour)},
		{Host: "new.example.com", Source: "acme", Problem: "no certificate yet: not obtained"},
	}, now)
	out := b.String()
	for _, want := range []string{"https certificates", "example.com", "Let's Encrypt R11", "(in 60d)", "(default)", "(in 3h0m0s)",
		"new.example.com", "! no certificate yet"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	printCertificates(&b, nil, now)
	if b.Len() != 0 {
		t.Errorf("no certificates printed %q", b.String())
	}
}
