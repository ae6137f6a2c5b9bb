package config

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// Secret holds a credential read from the config (inline, from an
// environment variable or from a file). It prints as "[redacted]" with fmt,
// slog and JSON, so logging a Config never leaks it; only Value reveals it.
type Secret struct {
	value  string
	source string
}

// NewSecret wraps a value obtained elsewhere (tests, flags) as a Secret.
func NewSecret(value, source string) Secret { return Secret{value: value, source: source} }

// Value returns the secret itself, for the one place that must use it.
func (s Secret) Value() string { return s.value }

// IsSet reports whether a secret was configured.
func (s Secret) IsSet() bool { return s.value != "" }

// Source says where the secret came from without revealing it, e.g.
// "env HOTSWAP_TOKEN_CI", "file /etc/hotswap/ci.token" or "inline".
func (s Secret) Source() string { return s.source }

// String redacts the secret.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the secret under %#v too.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret in JSON and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ByteSize is a number of bytes, written in YAML as a plain integer or a
// number with a unit (512k, 512m, 1g, 1MiB); every unit is a power of 1024.
type ByteSize int64

// String renders the size in the largest unit that keeps it whole.
func (b ByteSize) String() string {
	units := []string{"", "KiB", "MiB", "GiB", "TiB"}
	n := int64(b)
	i := 0
	for n != 0 && n%1024 == 0 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return strconv.FormatInt(n, 10) + units[i]
}

// sizeUnits maps lowercase unit suffixes to multipliers. Docker reads
// 512m as 512 MiB; hotswap does the same for every spelling, so that one
// file never mixes two meanings of "m".
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// parseSize reads "512m", "1.5g", "1MiB" or "1048576".
func parseSize(s string) (ByteSize, error) {
	bad := fmt.Errorf("invalid size %q (want e.g. 512m, 1g, 1MiB)", s)
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, bad
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, bad
	}
	n, err := strconv.ParseFloat(t[:i], 64)
	if err != nil {
		return 0, bad
	}
	v := n * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(v), nil
}

// parseDuration reads a Go duration and refuses negative ones, which no
// setting here can use.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 2s, 500ms)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %s must not be negative", s)
	}
	return d, nil
}

// splitArgv splits a one-string command on whitespace. Quotes would
// suggest a shell that is not there, so they are refused rather than kept
// as literal characters of some argument.
func splitArgv(s string) (Argv, error) {
	if strings.ContainsAny(s, `"'`) {
		return nil, fmt.Errorf("command %q contains quotes, but no shell parses it: write it as a list, e.g. [./app, --name, \"my app\"]", s)
	}
	return Argv(strings.Fields(s)), nil
}
