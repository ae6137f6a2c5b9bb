package config

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/goccy/go-yaml"
)

// Location is where a daemon keeps its state and its control socket: all
// the CLI needs to talk to it or to restore its database.
type Location struct {
	StateDir string // absolute
	Socket   string // absolute
}

// Locate reads only state_dir and control.socket from the config file at
// path, with the same defaults and relative-path rules as Load. It resolves
// no secret and validates nothing else, so the CLI works for an operator
// who has the config file but not the daemon's environment, and while the
// file holds an error the daemon has not applied yet.
func Locate(path string) (Location, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Location{}, fmt.Errorf("read config: %w", err)
	}
	var doc struct {
		StateDir string `yaml:"state_dir"`
		Control  struct {
			Socket string `yaml:"socket"`
		} `yaml:"control"`
	}
	// Not strict: every other key is the daemon's business.
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Location{}, fmt.Errorf("config %s: cannot read state_dir and control.socket: %w", path, err)
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return Location{}, fmt.Errorf("config %s: %w", path, err)
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	loc := Location{StateDir: abs(doc.StateDir), Socket: abs(doc.Control.Socket)}
	if loc.StateDir == "" {
		loc.StateDir = DefaultStateDir
	}
	if loc.Socket == "" {
		loc.Socket = filepath.Join(loc.StateDir, DefaultSocketName)
	}
	return loc, nil
}
