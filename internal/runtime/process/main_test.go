package process

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	hsruntime "github.com/hotswap/hotswap/internal/runtime"
	"github.com/hotswap/hotswap/internal/runtime/runtimetest"
)

// helperArg, as the test binary's first argument, turns it into one of the
// small helper programs below instead of running tests.
const helperArg = "hotswap-process-helper"

var (
	sampleApp string // the sample app, built once by TestMain
	testBin   string // this test binary, re-executed as a helper
)

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == helperArg {
		os.Exit(helper(os.Args[2], os.Args[3:]))
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hotswap-process-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// A private copy rather than the shared tmp/sampleapp: another test
	// package rebuilding that file while ours run it would fail with
	// "text file busy".
	if sampleApp, err = buildSampleApp(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if testBin, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Helpers are this binary; under -race it would linger a second at
	// exit (the race runtime's default atexit_sleep_ms).
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	return m.Run()
}

func buildSampleApp(dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	out := filepath.Join(dir, "sampleapp")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/sampleapp")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sampleapp: %w\n%s", err, msg)
	}
	return out, nil
}

// helper runs one helper program and returns its exit code.
//
//	exit N             print "hook exit N", exit N
//	ignore-term [leader-quits|exit]
//	                   ignore SIGTERM (unless leader-quits), start an
//	                   ignore-term-child in the same process group, print
//	                   "ready child=<pid>", run forever (or exit 0 at once)
//	ignore-term-child  ignore SIGTERM, print "ready", run forever
//	env wait|exit      print args, cwd and env, then wait for SIGTERM or exit 0
//	spam               print 100-byte lines every 100µs until killed
func helper(mode string, args []string) int {
	switch mode {
	case "exit":
		code, _ := strconv.Atoi(args[0])
		fmt.Printf("hook exit %d\n", code)
		return code
	case "ignore-term", "ignore-term-child":
		leaderQuits := len(args) > 0 && args[0] == "leader-quits"
		exitAfterSpawn := len(args) > 0 && args[0] == "exit"
		c := make(chan os.Signal, 1)
		if leaderQuits {
			signal.Notify(c, syscall.SIGUSR2) // SIGTERM keeps its default: exit
		} else {
			signal.Notify(c, syscall.SIGTERM)
		}
		if mode == "ignore-term" {
			child := exec.Command(os.Args[0], helperArg, "ignore-term-child")
			stdout, err := child.StdoutPipe()
			if err == nil {
				err = child.Start()
			}
			if err != nil {
				fmt.Println("helper:", err)
				return 1
			}
			if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
				fmt.Println("helper: child:", err)
				return 1
			}
			fmt.Printf("ready child=%d\n", child.Process.Pid)
			if exitAfterSpawn {
				return 0
			}
		} else {
			fmt.Println("ready")
		}
		for range c {
			// Ignored; printing here would kill the child with SIGPIPE
			// once its parent, the reader of its stdout, is gone.
		}
		return 0
	case "spam":
		// Writes numbered 100-byte lines until killed.
		for i := 0; ; i++ {
			fmt.Printf("line %08d %s\n", i, strings.Repeat("x", 85))
			time.Sleep(100 * time.Microsecond)
		}
	case "env":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		wd, _ := os.Getwd()
		fmt.Printf("args=%q\ncwd=%s\n", args[1:], wd)
		for _, k := range []string{"PORT", "A", "B", "HOTSWAP_SERVICE", "HOTSWAP_VERSION", "HOTSWAP_RELEASE"} {
			fmt.Printf("%s=%s\n", k, os.Getenv(k))
		}
		fmt.Println("env done")
		if args[0] == "wait" {
			<-c
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}

// releaseDir makes root/releases/<v>/app (the sample app) for versions, the
// layout a real process service would have.
func releaseDir(t *testing.T, root string, versions ...string) {
	t.Helper()
	for _, v := range versions {
		d := filepath.Join(root, "releases", v)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(sampleApp, filepath.Join(d, "app")); err != nil {
			t.Fatal(err)
		}
	}
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// sampleConfig is a service running root/releases/{version}/app, the sample
// app, with its output under root/logs.
func sampleConfig(t *testing.T, root string) Config {
	return Config{
		Service:   nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"),
		Command:   []string{"./app", "--port", "{port}", "--host", "{host}", "--version", "{version}"},
		Dir:       filepath.Join(root, "releases", "{version}"),
		LogDir:    filepath.Join(root, "logs"),
		StopGrace: 5 * time.Second,
	}
}

// newRuntime builds a Runtime that is closed when the test ends.
func newRuntime(t *testing.T, cfg Config) *Runtime {
	t.Helper()
	rt, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func TestConformance(t *testing.T) {
	runtimetest.Run(t, runtimetest.Harness{
		New: func(t *testing.T) hsruntime.Runtime {
			root := t.TempDir()
			releaseDir(t, root, runtimetest.Versions...)
			return newRuntime(t, sampleConfig(t, root))
		},
		MissingVersion: "v0-missing",
		HookOK:         []string{testBin, helperArg, "exit", "0"},
		HookOKOutput:   "hook exit 0",
		HookFail:       []string{"./app", "--bogus"},
		HookFailCode:   2,
		HookFailOutput: "flag provided but not defined",
		HookSlow:       []string{"./app", "--no-listen"},
		Lists:          true,
		Timeout:        10 * time.Second,
	})
}
