package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Load reads, decodes, defaults and validates the config file at path.
// A file that cannot be read gives an error that does not match
// ErrInvalid; a file with problems gives Errors listing all of them.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes, defaults and validates a config held in memory; name is
// used in error messages and relative paths start from its directory.
// Secrets named by *_env keys are read from the process environment.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, os.LookupEnv)
}

func parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	probs := &problems{file: name, pos: map[string]Pos{}}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			tp := ye.GetToken().Position
			probs.addAt(Pos{Line: tp.Line, Column: tp.Column}, "", "%s", ye.GetMessage())
		} else {
			probs.addAt(Pos{}, "", "%v", err)
		}
		return nil, probs.err()
	}
	if len(f.Docs) > 1 {
		probs.addAt(posOf(f.Docs[1].Body), "", "the file holds %d YAML documents; a config is one", len(f.Docs))
		return nil, probs.err()
	}
	baseDir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	c := Default()
	d := &decoder{
		probs:   probs,
		anchors: map[string][]*ast.AnchorNode{},
		secrets: secretResolver{lookupEnv: lookupEnv, baseDir: baseDir},
	}
	if len(f.Docs) == 1 && f.Docs[0].Body != nil {
		body := f.Docs[0].Body
		d.collectAnchors(body, 0)
		d.decode("", body, reflect.ValueOf(c).Elem())
	}
	c.file, c.pos = name, probs.pos
	c.resolvePaths(baseDir)
	c.validate(probs)
	if err := probs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// resolvePaths makes file paths absolute against the config file's
// directory and fills defaults that derive from other settings.
func (c *Config) resolvePaths(baseDir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(baseDir, p)
	}
	c.StateDir = abs(c.StateDir)
	if c.Control.Socket == "" && c.StateDir != "" {
		c.Control.Socket = filepath.Join(c.StateDir, DefaultSocketName)
	}
	c.Control.Socket = abs(c.Control.Socket)
	if c.Proxy.AccessLog != "" && c.Proxy.AccessLog != "stdout" {
		c.Proxy.AccessLog = abs(c.Proxy.AccessLog)
	}
	if c.Proxy.TLS != nil {
		c.Proxy.TLS.resolvePaths(abs)
	}
	for i := range c.Services {
		s := &c.Services[i]
		if s.Process != nil {
			if s.Process.Dir == "" {
				s.Process.Dir = baseDir
			}
			s.Process.Dir = abs(s.Process.Dir)
		}
		if s.Docker != nil {
			for j, f := range s.Docker.EnvFiles {
				s.Docker.EnvFiles[j] = abs(f)
			}
			for j, v := range s.Docker.Volumes {
				// Docker reads "data:/x" as a named volume; only an explicit
				// ./ or ../ marks a host path relative to the config file.
				if strings.HasPrefix(v, "./") || strings.HasPrefix(v, "../") {
					s.Docker.Volumes[j] = abs(v)
				}
			}
		}
	}
}

// Validate checks a Config as a whole and returns Errors listing every
// problem, or nil. Parse and Load already call it; use it for a Config
// built or changed in code.
func (c *Config) Validate() error {
	probs := &problems{file: c.file, pos: c.pos}
	c.validate(probs)
	return probs.err()
}
