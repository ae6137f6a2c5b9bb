package process

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config describes one service run as local processes. It comes from the
// service's section of hotswap's config file.
type Config struct {
	// Service is the service's name. It is recorded in every instance ID so
	// that one service's runtime never adopts another's process, and given
	// to the app as HOTSWAP_SERVICE and {service}. Required.
	Service string

	// Command is the argv template that starts one version. Each argument
	// has its placeholders replaced on its own ({port}, {host}, {version},
	// {service}, {release}); no shell ever sees it, so an argument is never
	// split or interpreted. Command[0] is the executable: a bare name is
	// looked up in PATH, a relative path is relative to Dir. Required.
	Command []string

	// Dir is the working directory template (same placeholders), e.g.
	// "/srv/app/releases/{version}". Default: the daemon's working
	// directory.
	Dir string

	// Env is extra environment for every instance and hook, on top of the
	// daemon's own. Values may use the placeholders. Default: none.
	Env map[string]string

	// StopSignal is sent to the instance's process group to ask it to end.
	// Default SIGTERM.
	StopSignal syscall.Signal

	// StopGrace is how long Stop waits after StopSignal before it kills the
	// process group with SIGKILL. Default 10s.
	StopGrace time.Duration

	// Host is the address apps listen on and the proxy dials; {host} and
	// the host part of Addr. Default "127.0.0.1".
	Host string

	// LogDir is where each instance's output file is written (created if
	// needed). Output goes straight to a file, not through the daemon, so
	// an app keeps running and logging while the daemon restarts. Required.
	LogDir string

	// LogMaxSize is the size in bytes past which an instance's output file
	// is rotated (copied to <file>.1, older copies shifted, then truncated;
	// checked every 5s). Default 50 MiB; negative disables rotation.
	LogMaxSize int64

	// LogKeep is how many rotated copies are kept. Default 3.
	LogKeep int
}

// placeholderRE matches what looks like a placeholder, so that typos such
// as {verison} are rejected when the runtime is built, not at deploy time.
var placeholderRE = regexp.MustCompile(`\{[a-z_]+\}`)

// known placeholders, in the order they are documented.
var placeholders = []string{"{port}", "{host}", "{version}", "{service}", "{release}"}

// withDefaults fills in defaults and validates c.
func (c Config) withDefaults() (Config, error) {
	if c.StopSignal == 0 {
		c.StopSignal = syscall.SIGTERM
	}
	if c.StopGrace == 0 {
		c.StopGrace = 10 * time.Second
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.LogMaxSize == 0 {
		c.LogMaxSize = DefaultLogMaxSize
	}
	if c.LogKeep == 0 {
		c.LogKeep = DefaultLogKeep
	}
	var errs []error
	if c.Service == "" {
		errs = append(errs, errors.New("service name is empty"))
	}
	if len(c.Command) == 0 || c.Command[0] == "" {
		errs = append(errs, errors.New("command is empty"))
	}
	if c.LogDir == "" {
		errs = append(errs, errors.New("log dir is empty"))
	}
	if c.StopGrace < 0 {
		errs = append(errs, fmt.Errorf("stop grace %v is negative", c.StopGrace))
	}
	for i, a := range c.Command {
		errs = append(errs, checkTemplate(fmt.Sprintf("command[%d]", i), a))
	}
	errs = append(errs, checkTemplate("dir", c.Dir))
	for k, v := range c.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			errs = append(errs, fmt.Errorf("env name %q is invalid", k))
		}
		errs = append(errs, checkTemplate("env "+k, v))
	}
	return c, errors.Join(errs...)
}

// checkTemplate rejects unknown placeholders in s.
func checkTemplate(where, s string) error {
	for _, p := range placeholderRE.FindAllString(s, -1) {
		if !isPlaceholder(p) {
			return fmt.Errorf("%s: unknown placeholder %s (known: %s)", where, p, strings.Join(placeholders, " "))
		}
	}
	return nil
}

func isPlaceholder(p string) bool {
	for _, k := range placeholders {
		if p == k {
			return true
		}
	}
	return false
}

// vars are the values placeholders take for one start or hook.
type vars struct {
	Port    int
	Host    string
	Version string
	Service string
	Release int64
}

// replacer substitutes every placeholder in one pass, so a value that
// itself contains "{port}" is never substituted again.
func (v vars) replacer() *strings.Replacer {
	return strings.NewReplacer(
		"{port}", strconv.Itoa(v.Port),
		"{host}", v.Host,
		"{version}", v.Version,
		"{service}", v.Service,
		"{release}", strconv.FormatInt(v.Release, 10),
	)
}

// expand substitutes placeholders in each element of tmpl independently.
func expand(tmpl []string, v vars) []string {
	r := v.replacer()
	out := make([]string, len(tmpl))
	for i, a := range tmpl {
		out[i] = r.Replace(a)
	}
	return out
}
