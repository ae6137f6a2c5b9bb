package release

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashEnv, when set in a child test process, names the database the child
// writes to before killing itself mid-transaction.
const crashEnv = "HOTSWAP_RELEASE_CRASH_DB"

const crashCommitted = 20

// TestCrashLosesNothingCommitted runs TestCrashChild in a child process,
// which commits releases, starts a large transaction and dies by SIGKILL
// before committing. Everything committed must survive; nothing of the
// open transaction may appear.
func TestCrashLosesNothingCommitted(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("running as the crash child")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	committed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if sc.Text() == "COMMITTED" {
			committed = true
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL (%v):\n%s", err, strings.Join(lines, "\n"))
	}
	if !committed {
		t.Fatalf("child never reported its commits:\n%s", strings.Join(lines, "\n"))
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Logf("no WAL left behind (%v); recovery path not exercised", err)
	}

	s := openAt(t, path)
	rs, err := s.ListReleases(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != crashCommitted {
		t.Fatalf("after crash: %d releases, want %d", len(rs), crashCommitted)
	}
	for _, r := range rs {
		if r.Version == "uncommitted" || r.State != Deploying {
			t.Errorf("after crash: %+v", r)
		}
		if evs, err := s.Events(context.Background(), r.ID, 0); err != nil || len(evs) != 1 {
			t.Errorf("release %d events = %d, %v", r.ID, len(evs), err)
		}
	}
}

// TestCrashChild is the child half of TestCrashLosesNothingCommitted.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only runs as a child of TestCrashLosesNothingCommitted")
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range crashCommitted {
		r := &Release{Service: "web", Version: fmt.Sprint("v", i), Kind: KindDeploy}
		if err := s.CreateRelease(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateRelease(ctx, r.ID, func(r *Release) error { r.State = Deploying; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendEvent(ctx, Event{ReleaseID: r.ID, Step: "start"}); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("COMMITTED")
	// Big enough to spill dirty pages into the WAL before the commit that
	// never comes.
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("y", 16<<10)
	for range 500 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO releases (service, version, kind, state, hook_output, created_at)
			VALUES ('web', 'uncommitted', 'deploy', 'queued', ?, 1)`, big); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE releases SET state = 'failed'`); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {} // SIGKILL cannot be caught; never reached
}
