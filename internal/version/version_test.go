package version

import (
	"errors"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"v1", true},
		{"1.2.3", true},
		{"v2.0.0-rc.1", true},
		{"build_42", true},
		{"V1", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"-rf", false},
		{".hidden", false},
		{"v1;rm -rf /", false},
		{"v1 v2", false},
		{"../etc", false},
		{"v1/../x", false},
		{"v1\n", false},
		{"vé", false},
		{"v1@sha256", false},
	}
	for _, tt := range tests {
		err := Default.Validate(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%q) error %v does not wrap ErrInvalid", tt.in, err)
		}
	}
}

func TestCustomPattern(t *testing.T) {
	v, err := Compile(`^\d+\.\d+\.\d+$`)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate("1.2.3"); err != nil {
		t.Errorf("1.2.3: %v", err)
	}
	if err := v.Validate("v1.2.3"); err == nil {
		t.Error("v1.2.3 accepted by a pattern without v")
	}
	if _, err := Compile("("); err == nil {
		t.Error("bad pattern compiled")
	}
}

// FuzzValidate checks the invariants that every accepted version must keep,
// whatever the input: bounded, no whitespace, no path or shell metacharacters.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"v1", "1.0.0", "-x", "a/b", "v1;ls", strings.Repeat("9", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Default.Validate(s) != nil {
			return
		}
		if len(s) == 0 || len(s) > MaxLen {
			t.Fatalf("accepted length %d", len(s))
		}
		if strings.ContainsAny(s, " \t\n\r/\\;&|$`'\"<>(){}*?!@:") {
			t.Fatalf("accepted %q", s)
		}
		if s[0] == '-' || s[0] == '.' {
			t.Fatalf("accepted leading %q", s[0])
		}
	})
}
