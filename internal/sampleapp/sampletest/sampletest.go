// Package sampletest builds hotswap's own programs for tests that run them
// as real processes (the sample app behind a process-runtime service, the
// hotswap binary for a daemon that a test kills). Building once per test
// binary, in TestMain, keeps every test on the same real executable.
package sampletest

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"testing"
)

// Import paths of the programs tests build.
const (
	SampleApp = "github.com/hotswap/hotswap/cmd/sampleapp"
	Hotswap   = "github.com/hotswap/hotswap/cmd/hotswap"
)

// Main builds each package (import path) into a fresh temporary directory,
// calls set with the binaries' paths in the same order, runs the tests and
// exits with their code, removing the binaries. A build failure exits 1.
func Main(m *testing.M, set func(bins ...string), pkgs ...string) {
	dir, err := os.MkdirTemp("", "hotswap-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sampletest:", err)
		os.Exit(1)
	}
	bins := make([]string, len(pkgs))
	for i, pkg := range pkgs {
		bins[i] = filepath.Join(dir, path.Base(pkg))
		if out, err := exec.Command("go", "build", "-o", bins[i], pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "sampletest: build %s: %v\n%s", pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	set(bins...)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
