package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
)

// secretResolver reads secrets named by *_env and *_file keys. Parse uses
// the process environment; tests substitute their own.
type secretResolver struct {
	lookupEnv func(string) (string, bool)
	baseDir   string // relative *_file paths start here
}

// maxSecretFile bounds how much of a secret file is read: secrets are
// short, and a misnamed path to a huge file should fail fast.
const maxSecretFile = 64 << 10

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// decodeSecret fills v from whichever of base, base_env and base_file was
// written. Errors name the key and the variable or file, never the value.
func (d *decoder) decodeSecret(parent, base string, es []entry, v reflect.Value) {
	if len(es) > 1 {
		d.probs.addAt(es[1].pos, childPath(parent, base),
			"set only one of %s, %s_env, %s_file", base, base, base)
		return
	}
	e := es[0]
	path := childPath(parent, e.key)
	// Validation speaks of the secret by its base name (token): point it at
	// the line that set it, and let a problem found here speak for it.
	basePath := childPath(parent, base)
	d.record(basePath, e.pos)
	fail := func(format string, args ...any) {
		d.probs.addAt(e.pos, path, format, args...)
		d.probs.quiet(basePath)
	}
	n, ok := d.resolve(path, e.value)
	if !ok {
		d.probs.quiet(basePath)
		return
	}
	raw, ok := d.text(path, n)
	if !ok {
		d.probs.quiet(basePath)
		return
	}
	var s Secret
	switch {
	case strings.HasSuffix(e.key, "_env"):
		if !envNameRE.MatchString(raw) {
			fail("%q is not an environment variable name", raw)
			return
		}
		val, set := d.secrets.lookupEnv(raw)
		switch {
		case !set:
			fail("environment variable %s is not set", raw)
			return
		case val == "":
			fail("environment variable %s is empty", raw)
			return
		}
		s = Secret{value: val, source: "env " + raw}
	case strings.HasSuffix(e.key, "_file"):
		file := d.secrets.path(raw)
		val, err := readSecretFile(file)
		if err != nil {
			fail("%v", err)
			return
		}
		s = Secret{value: val, source: "file " + file}
	default:
		if raw == "" {
			fail("empty")
			return
		}
		s = Secret{value: raw, source: "inline"}
	}
	v.Set(reflect.ValueOf(s))
}

// path makes a relative path relative to the config file's directory.
func (r secretResolver) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(r.baseDir, p)
}

func readSecretFile(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty file name")
	}
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", name, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("secret file %s is larger than %d bytes", name, maxSecretFile)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", name)
	}
	return s, nil
}
