package cli

import (
	"fmt"
	"runtime/debug"
)

// Set at build time with
//
//	go build -ldflags "-X github.com/hotswap/hotswap/internal/cli.buildVersion=v1.2.0
//	  -X github.com/hotswap/hotswap/internal/cli.buildCommit=$(git rev-parse HEAD)
//	  -X github.com/hotswap/hotswap/internal/cli.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
//
// When unset they come from the build information Go records (module
// version, vcs.revision, vcs.time), else "unknown".
var buildVersion, buildCommit, buildDate string

// versionString is what `hotswap --version` prints.
func versionString() string {
	v, c, d := buildVersion, buildCommit, buildDate
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			case s.Key == "vcs.modified" && s.Value == "true" && c != "" && buildCommit == "":
				c += "-dirty"
			}
		}
	}
	orUnknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	if v == "" {
		v = "devel"
	}
	return fmt.Sprintf("%s (commit %s, built %s)", v, orUnknown(c), orUnknown(d))
}
