package process

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	hsruntime "github.com/hotswap/hotswap/internal/runtime"
)

// envConfig runs the "env" helper in root/releases/{version}, with config
// env that the start's env and hotswap's own variables must override.
func envConfig(t *testing.T, root, mode string) Config {
	t.Helper()
	releaseDir(t, root, "v1")
	return Config{
		Service: "envsvc",
		// The last argument would do harm in a shell; here it is one word.
		Command: []string{testBin, helperArg, "env", mode, "{service}@{version}:{port}", "$(touch pwned); {release}"},
		Dir:     filepath.Join(root, "releases", "{version}"),
		Env:     map[string]string{"A": "a-{version}-{release}", "B": "from-config", "PORT": "1"},
		LogDir:  filepath.Join(root, "logs"),
	}
}

// TestStartEnvironment: argv placeholders, working dir and env precedence
// as the app sees them, and no shell in between.
func TestStartEnvironment(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	root := t.TempDir()
	cfg := envConfig(t, root, "wait")
	rt := newRuntime(t, cfg)
	inst, err := rt.Start(ctx, hsruntime.Spec{Version: "v1", ReleaseID: 42, Env: map[string]string{"B": "from-spec"}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = inst.Remove(context.Background()) })
	logLine(t, ctx, inst, regexp.MustCompile(`env done`))
	_, port, _ := net.SplitHostPort(inst.Addr())
	lines, err := inst.Logs(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		`args=["envsvc@v1:` + port + `" "$(touch pwned); 42"]`,
		"cwd=" + filepath.Join(root, "releases", "v1"),
		"PORT=" + port,
		"A=a-v1-42",
		"B=from-spec",
		"HOTSWAP_SERVICE=envsvc",
		"HOTSWAP_VERSION=v1",
		"HOTSWAP_RELEASE=42",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("app output lacks %q:\n%s", want, got)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "releases", "v1", "pwned")); err == nil {
		t.Error("an argument was run by a shell")
	}

	// Remove deletes the output file; Logs then says ErrNotFound.
	logFile := inst.(*instance).ident.Log
	if err := inst.Remove(ctx); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(logFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output file after Remove: %v", err)
	}
	if _, err := inst.Logs(ctx, 5); !errors.Is(err, hsruntime.ErrNotFound) {
		t.Errorf("Logs after Remove = %v, want ErrNotFound", err)
	}
}

// TestRunHookEnvironment: hooks get the service's env and dir, with
// {port} and PORT 0 because a hook serves nothing.
func TestRunHookEnvironment(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	root := t.TempDir()
	rt := newRuntime(t, envConfig(t, root, "exit"))
	var out bytes.Buffer
	if err := rt.RunHook(ctx, "v1", []string{testBin, helperArg, "env", "exit", "{version}:{port}"}, &out); err != nil {
		t.Fatalf("RunHook: %v\n%s", err, out.String())
	}
	for _, want := range []string{`args=["v1:0"]`, "cwd=" + filepath.Join(root, "releases", "v1"), "PORT=0", "A=a-v1-0", "B=from-config", "HOTSWAP_VERSION=v1"} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("hook output lacks %q:\n%s", want, out.String())
		}
	}
	err := rt.RunHook(ctx, "v1", []string{"./no-such-hook"}, &out)
	if !errors.Is(err, hsruntime.ErrArtifactMissing) || !strings.Contains(err.Error(), filepath.Join(root, "releases", "v1", "no-such-hook")) {
		t.Errorf("RunHook of a missing program = %v, want ErrArtifactMissing naming its path", err)
	}
}

// TestRunHookKillsGroup: what a hook leaves in its process group does not
// outlive RunHook, whether the hook ends on its own or its context ends
// (then promptly: the group is killed, not only the hook's own process).
func TestRunHookKillsGroup(t *testing.T) {
	tests := []struct {
		name    string
		arg     string
		budget  time.Duration
		wantErr error
	}{
		{"hook exits, child lingers", "exit", 10 * time.Second, nil},
		{"context ends", "", 500 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			rt := newRuntime(t, Config{Service: "hooks", Command: []string{"unused"}, LogDir: t.TempDir()})
			hookCtx, hookCancel := context.WithTimeout(ctx, tc.budget)
			defer hookCancel()
			var out bytes.Buffer
			begin := time.Now()
			err := rt.RunHook(hookCtx, "v1", []string{testBin, helperArg, "ignore-term", tc.arg}, &out)
			took := time.Since(begin)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("RunHook = %v, want %v\n%s", err, tc.wantErr, out.String())
			}
			// Well under hookWaitDelay, after which exec would kill the
			// hook's own process even without the group kill.
			if limit := tc.budget + 700*time.Millisecond; tc.wantErr != nil && took > limit {
				t.Errorf("RunHook took %v, want under %v", took, limit)
			}
			m := regexp.MustCompile(`ready child=(\d+)`).FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("hook output lacks its child's pid:\n%s", out.String())
			}
			child, _ := strconv.Atoi(m[1])
			t.Cleanup(func() {
				if !gone(child) {
					_ = syscall.Kill(child, syscall.SIGKILL)
				}
			})
			if !poll(ctx, func() bool { return gone(child) }) {
				t.Errorf("the hook's child %d outlived RunHook", child)
			}
		})
	}
}

// TestPrepare: each way a version's executable can be unusable is
// ErrArtifactMissing naming the exact path, and nothing starts.
func TestPrepare(t *testing.T) {
	root := t.TempDir()
	releaseDir(t, root, "v1")
	rel := func(v string) string { return filepath.Join(root, "releases", v) }
	for _, v := range []string{"dir", "noexec"} {
		if err := os.MkdirAll(filepath.Join(rel(v), "app", "x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.RemoveAll(filepath.Join(rel("noexec"), "app"))
	if err := os.WriteFile(filepath.Join(rel("noexec"), "app"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		command  string
		dir      string
		version  string
		wantPath string // in the error; "" means success
	}{
		{"relative to dir", "./app", rel("{version}"), "v1", ""},
		{"absolute", filepath.Join(rel("{version}"), "app"), "", "v1", ""},
		{"on PATH", "go", "", "v1", ""},
		{"missing dir", "./app", rel("{version}"), "v9", rel("v9")},
		{"missing file", filepath.Join(root, "bin-{version}"), "", "v9", filepath.Join(root, "bin-v9")},
		{"directory", "./app", rel("{version}"), "dir", filepath.Join(rel("dir"), "app")},
		{"not executable", "./app", rel("{version}"), "noexec", filepath.Join(rel("noexec"), "app")},
		{"not on PATH", "hotswap-no-such-program-{version}", "", "v9", "hotswap-no-such-program-v9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRuntime(t, Config{Service: "prep", Command: []string{tc.command, "--version", "{version}"},
				Dir: tc.dir, LogDir: filepath.Join(t.TempDir(), "logs")})
			var out bytes.Buffer
			art, err := rt.Prepare(t.Context(), tc.version, &out)
			if tc.wantPath == "" {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				if want := strings.ReplaceAll(tc.command, "{version}", tc.version) + " --version " + tc.version; art.Ref != want {
					t.Errorf("Ref = %q, want %q", art.Ref, want)
				}
				return
			}
			if !errors.Is(err, hsruntime.ErrArtifactMissing) || !strings.Contains(err.Error(), tc.wantPath) {
				t.Fatalf("Prepare = %v, want ErrArtifactMissing naming %s", err, tc.wantPath)
			}
			if _, err := rt.Start(t.Context(), hsruntime.Spec{Version: tc.version}); !errors.Is(err, hsruntime.ErrArtifactMissing) {
				t.Errorf("Start = %v, want ErrArtifactMissing", err)
			}
			if logs, _ := os.ReadDir(rt.cfg.LogDir); len(logs) != 0 {
				t.Errorf("failed Start left %d files in the log dir", len(logs))
			}
		})
	}
}
