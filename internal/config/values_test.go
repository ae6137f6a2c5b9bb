package config

import (
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"0", 0, true},
		{"1048576", 1 << 20, true},
		{"512m", 512 << 20, true},
		{"512M", 512 << 20, true},
		{"1g", 1 << 30, true},
		{"1GB", 1 << 30, true},
		{"1MiB", 1 << 20, true},
		{"1.5g", 3 << 29, true},
		{"64k", 64 << 10, true},
		{"10b", 10, true},
		{"", 0, false},
		{"m", 0, false},
		{"5q", 0, false},
		{"-1m", 0, false},
		{"1..2m", 0, false},
		{"99999999999t", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("parseSize(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if s := ByteSize(512 << 20).String(); s != "512MiB" {
		t.Errorf("String = %q", s)
	}
	if s := ByteSize(1500).String(); s != "1500" {
		t.Errorf("String = %q", s)
	}
}

func TestParseDuration(t *testing.T) {
	if d, err := parseDuration("1m30s"); err != nil || d != 90*time.Second {
		t.Errorf("1m30s = %v, %v", d, err)
	}
	for _, bad := range []string{"5x", "", "-1s", "10"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"name", "hosts", "health", "hooks", "path_prefix", "token", "token_env", "token_file"}
	tests := map[string]string{
		"helth":       "health",
		"heatlh":      "health",
		"host":        "hosts",
		"path-prefix": "path_prefix",
		"token_evn":   "token_env",
		"colour":      "",
		"x":           "",
	}
	for in, want := range tests {
		if got := suggest(in, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitArgv(t *testing.T) {
	a, err := splitArgv("  ./web   --port {port} ")
	if err != nil || len(a) != 3 || a[0] != "./web" || a[2] != "{port}" {
		t.Errorf("splitArgv = %q, %v", a, err)
	}
	if _, err := splitArgv(`./web --name "a b"`); err == nil {
		t.Error("quotes accepted")
	}
}

func TestPaths(t *testing.T) {
	for in, want := range map[string]string{
		"services[1].health.interval": "services[1].health",
		"services[1]":                 "services",
		`labels["a.b"]`:               "labels",
		"services":                    "",
	} {
		if got := parentPath(in); got != want {
			t.Errorf("parentPath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := childPath("docker.labels", "com.example.x"); got != `docker.labels["com.example.x"]` {
		t.Errorf("childPath = %q", got)
	}
}
