package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/runtime/process"
)

// deployTwoAndLeave deploys v1 then v2 of the web service under a daemon
// that leaves its apps running when it closes, waits for the backup the
// second release triggers, and closes the daemon. It returns v2's
// instance address and the backups.
func deployTwoAndLeave(ctx context.Context, t *testing.T, dir string) (string, []string) {
	t.Helper()
	cfg := testConfig(t, dir, "")
	d, err := New(ctx, cfg, Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c := api.DialSocket(d.SocketPath(), "test")
	do(ctx, t, c, action{"deploy", "v1", "live", "v1"})
	v2 := do(ctx, t, c, action{"deploy", "v2", "live", "v2"})
	var backups []string
	waitFor(ctx, t, "a backup after v2 went live", func() bool {
		backups, _ = filepath.Glob(filepath.Join(dir, "backups", "hotswap-*.db"))
		for _, b := range backups {
			if strings.HasSuffix(b, fmt.Sprintf("-r%d.db", v2.ID)) {
				return true
			}
		}
		return false
	})
	live, err := d.Store().Live(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return live.Addr, backups
}

// running lists the web service's processes still running in dir.
func running(t *testing.T, dir string) []string {
	t.Helper()
	r, err := process.New(process.Config{Service: "web", Command: []string{sampleBin}, LogDir: filepath.Join(dir, "logs", "web")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ids, err := r.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestCorruptDatabaseRefusesStart: a damaged database does not give a
// daemon that answers its health path and 503 for every app: the start is
// refused, naming the newest backup and the command that restores it;
// after `hotswap state restore` the daemon re-adopts the app that kept
// running.
func TestCorruptDatabaseRefusesStart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr, _ := deployTwoAndLeave(ctx, t, dir)

	// Damage every page after the header.
	db := filepath.Join(dir, "hotswap.db")
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(db, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
	for off := int64(4096); off < fi.Size(); off += int64(len(junk)) {
		if _, err := f.WriteAt(junk, off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	backups, _ := filepath.Glob(filepath.Join(dir, "backups", "hotswap-*.db"))
	newest := backups[len(backups)-1]
	_, err = New(ctx, testConfig(t, dir, ""), Options{Log: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("a daemon started on a corrupt database")
	}
	if !errors.Is(err, ErrStateNeedsOperator) || !strings.Contains(err.Error(), newest) || !strings.Contains(err.Error(), "hotswap state restore") {
		t.Fatalf("refusal %q: want it to name the newest backup %s and the restore command", err, newest)
	}

	out, err := exec.CommandContext(ctx, hotswapBin, "state", "restore", "--state-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("state restore: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), newest) {
		t.Errorf("state restore said %q, want it to name %s", out, newest)
	}
	d := startDaemon(t, testConfig(t, dir, ""), true)
	if code, v, _ := get(t, d, "web.test", "/"); code != 200 || v != "v2" {
		t.Fatalf("after restore: %d from %q, want 200 from v2", code, v)
	}
	live, err := d.Store().Live(ctx, "web")
	if err != nil || live.Addr != addr {
		t.Errorf("after restore the live instance is %+v (%v), want the running v2 at %s re-adopted", live, err, addr)
	}
}

// TestDeletedDatabaseRefusesStart: a deleted database does not orphan the
// running apps (and a redeploy would start a third): the start is
// refused, first naming the backup, then — with no backup either — naming
// the instances it found by their records; only --remove-unknown removes
// them.
func TestDeletedDatabaseRefusesStart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	deployTwoAndLeave(ctx, t, dir)
	if n := len(running(t, dir)); n != 2 {
		t.Fatalf("%d processes run after the first daemon, want v2 live and v1 warm", n)
	}
	for _, ext := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(filepath.Join(dir, "hotswap.db"+ext))
	}
	quiet := Options{Log: slog.New(slog.DiscardHandler)}
	_, err := New(ctx, testConfig(t, dir, ""), quiet)
	if err == nil || !strings.Contains(err.Error(), "hotswap state restore") {
		t.Fatalf("start on a deleted database with backups: %v, want a refusal naming the restore command", err)
	}

	if err := os.RemoveAll(filepath.Join(dir, "backups")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the refusal leaves no database behind: the next start refuses too
		_, err = New(ctx, testConfig(t, dir, ""), quiet)
		if err == nil || !errors.Is(err, ErrStateNeedsOperator) || !strings.Contains(err.Error(), "2 instance(s)") {
			t.Fatalf("start %d on a deleted database, no backup, apps running: %v, want a refusal naming the 2 instances", i+1, err)
		}
	}
	if n := len(running(t, dir)); n != 2 {
		t.Fatalf("%d processes run after the refused starts, want the same 2", n)
	}

	quiet.RemoveUnknown, quiet.StopOnClose = true, true
	d, err := New(ctx, testConfig(t, dir, ""), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	if ids := running(t, dir); len(ids) != 0 {
		t.Errorf("--remove-unknown left %d processes running", len(ids))
	}
}
