package docker

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// environment is the full environment of a container of version, sorted:
// env files, then Config.Env, then extra (Spec.Env), then hotswap's own
// PORT and HOTSWAP_* which the app may rely on. forHash is the same without
// HOTSWAP_RELEASE, which must not stop a container from being reused.
// release 0 (hooks) omits HOTSWAP_RELEASE.
func (r *Runtime) environment(version string, release int64, extra map[string]string) (env, forHash []string, err error) {
	m := map[string]string{}
	for _, f := range r.cfg.EnvFiles {
		kvs, err := readEnvFile(f)
		if err != nil {
			return nil, nil, err
		}
		for _, kv := range kvs {
			m[kv[0]] = kv[1]
		}
	}
	for k, v := range r.cfg.Env {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	m["PORT"] = strconv.Itoa(r.cfg.Port)
	m["HOTSWAP_SERVICE"] = r.cfg.Service
	m["HOTSWAP_VERSION"] = version
	for k, v := range m {
		forHash = append(forHash, k+"="+v)
	}
	slices.Sort(forHash)
	env = slices.Clone(forHash)
	if release != 0 {
		env = append(env, "HOTSWAP_RELEASE="+strconv.FormatInt(release, 10))
		slices.Sort(env)
	}
	return env, forHash, nil
}

// readEnvFile parses KEY=VALUE lines. Blank lines and "#" comments are
// skipped, an "export " prefix is allowed, and one level of matching quotes
// around the value is removed; nothing is expanded. Errors name file:line.
func readEnvFile(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("env file: %w", err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return nil, fmt.Errorf("env file %s:%d: want KEY=VALUE", path, n)
		}
		if !envKeyRE.MatchString(k) {
			return nil, fmt.Errorf("env file %s:%d: invalid variable name %q", path, n, k)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out = append(out, [2]string{k, v})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("env file %s: %w", path, err)
	}
	return out, nil
}
