package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocate: only state_dir and control.socket are read, with Load's
// defaults and relative paths; secrets that are not set and keys that do
// not validate do not matter.
func TestLocate(t *testing.T) {
	dir := t.TempDir()
	write := func(y string) string {
		p := filepath.Join(dir, "hotswap.yaml")
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	loc, err := Locate(write("state_dir: ./state\ncontrol:\n  tokens: [{name: ci, token_env: HOTSWAP_UNSET_FOR_TEST}]\nnot_a_key: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if loc.StateDir != filepath.Join(dir, "state") || loc.Socket != filepath.Join(dir, "state", DefaultSocketName) {
		t.Errorf("Locate = %+v", loc)
	}
	loc, err = Locate(write("control: {socket: /run/hs.sock}\n"))
	if err != nil || loc.StateDir != DefaultStateDir || loc.Socket != "/run/hs.sock" {
		t.Errorf("Locate = %+v, %v", loc, err)
	}
	if _, err := Locate(write("state_dir: [unclosed\n")); err == nil || !strings.Contains(err.Error(), "state_dir") {
		t.Errorf("Locate(bad YAML) = %v, want an error naming what it tried to read", err)
	}
}

// FuzzLocate: the CLI reads state_dir and control.socket from any file it
// is pointed at; no input may panic it, and a result is always absolute.
func FuzzLocate(f *testing.F) {
	f.Add([]byte("state_dir: /var/lib/hotswap\ncontrol: {socket: x.sock}\n"))
	f.Add([]byte("control: [1, 2]\n"))
	f.Add([]byte("state_dir: &a x\nz: *a\n"))
	dir := f.TempDir()
	p := filepath.Join(dir, "c.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		loc, err := Locate(p)
		if err == nil && (!filepath.IsAbs(loc.StateDir) || !filepath.IsAbs(loc.Socket)) {
			t.Fatalf("Locate gave relative paths: %+v", loc)
		}
	})
}
