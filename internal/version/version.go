// Package version validates the version strings that enter hotswap from the
// CLI, the API and webhooks. A version ends up in container names, image
// tags, command arguments and log lines, so it is checked once, at every
// entry point, against one rule per service, before anything else happens.
package version

import (
	"errors"
	"fmt"
	"regexp"
)

// MaxLen bounds every version, whatever the service's pattern says: image
// tags are limited to 128 characters.
const MaxLen = 128

// DefaultPattern is the rule when a service sets none: letters, digits and
// "._-", an optional leading "v", at most 128 characters, starting with a
// letter or digit so it can never look like a flag or a path.
const DefaultPattern = `^v?[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`

// ErrInvalid is wrapped by every validation failure so callers can map it to
// a 400 or a usage exit code.
var ErrInvalid = errors.New("invalid version")

// Validator checks versions against one compiled pattern. It is immutable
// and safe for concurrent use.
type Validator struct {
	re *regexp.Regexp
}

// Default validates against DefaultPattern.
var Default = MustCompile(DefaultPattern)

// Compile builds a Validator; an empty pattern means DefaultPattern.
func Compile(pattern string) (*Validator, error) {
	if pattern == "" {
		pattern = DefaultPattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("version pattern %q: %w", pattern, err)
	}
	return &Validator{re: re}, nil
}

// MustCompile is Compile for patterns known at build time.
func MustCompile(pattern string) *Validator {
	v, err := Compile(pattern)
	if err != nil {
		panic(err)
	}
	return v
}

// Pattern returns the rule, for error messages and docs.
func (v *Validator) Pattern() string { return v.re.String() }

// Validate returns nil for an acceptable version, else an error wrapping
// ErrInvalid that says why without echoing more than a bounded prefix.
func (v *Validator) Validate(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty", ErrInvalid)
	case len(s) > MaxLen:
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrInvalid, len(s), MaxLen)
	case !v.re.MatchString(s):
		return fmt.Errorf("%w %q: must match %s", ErrInvalid, s, v.re.String())
	}
	return nil
}
