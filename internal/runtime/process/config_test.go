package process

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExpand(t *testing.T) {
	v := vars{Port: 4100, Host: "127.0.0.1", Version: "v2.1", Service: "web", Release: 17}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"none", []string{"/bin/app", "--flag"}, []string{"/bin/app", "--flag"}},
		{"each", []string{"{port}", "{host}", "{version}", "{service}", "{release}"},
			[]string{"4100", "127.0.0.1", "v2.1", "web", "17"}},
		{"inside words", []string{"/srv/{service}/releases/{version}/bin", "--listen={host}:{port}"},
			[]string{"/srv/web/releases/v2.1/bin", "--listen=127.0.0.1:4100"}},
		{"repeated", []string{"{version}-{version}"}, []string{"v2.1-v2.1"}},
		{"spaces stay in one argument", []string{"--name=a {service} b"}, []string{"--name=a web b"}},
		{"shell syntax is literal", []string{"$(rm -rf /)", "a;b", "`x`"}, []string{"$(rm -rf /)", "a;b", "`x`"}},
		{"other braces untouched", []string{"{}", `{"a":1}`, "{PORT}"}, []string{"{}", `{"a":1}`, "{PORT}"}},
		{"empty", []string{}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := expand(tc.in, v); !slices.Equal(got, tc.want) {
				t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	// A value holding a placeholder is not expanded again.
	if got := expand([]string{"{version}"}, vars{Version: "{port}", Port: 1}); got[0] != "{port}" {
		t.Errorf("substituted value was expanded again: %q", got[0])
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{Service: "web", Command: []string{"app"}, LogDir: "/tmp/x"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.StopSignal != syscall.SIGTERM || c.StopGrace != 10*time.Second || c.Host != "127.0.0.1" {
		t.Errorf("defaults = %v, %v, %q", c.StopSignal, c.StopGrace, c.Host)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Service: "web", Command: []string{"app", "{port}"}, LogDir: "/tmp/x"}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // in the error; "" means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no service", func(c *Config) { c.Service = "" }, "service name is empty"},
		{"no command", func(c *Config) { c.Command = nil }, "command is empty"},
		{"empty program", func(c *Config) { c.Command = []string{""} }, "command is empty"},
		{"no log dir", func(c *Config) { c.LogDir = "" }, "log dir is empty"},
		{"negative grace", func(c *Config) { c.StopGrace = -time.Second }, "negative"},
		{"typo in command", func(c *Config) { c.Command = []string{"app", "--port={prot}"} }, "command[1]: unknown placeholder {prot}"},
		{"typo in dir", func(c *Config) { c.Dir = "/srv/{verison}" }, "dir: unknown placeholder {verison}"},
		{"typo in env", func(c *Config) { c.Env = map[string]string{"X": "{relase}"} }, "env X: unknown placeholder {relase}"},
		{"bad env name", func(c *Config) { c.Env = map[string]string{"A=B": "1"} }, `env name "A=B"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			_, err := c.withDefaults()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
