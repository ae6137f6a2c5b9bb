package process

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	hsruntime "github.com/hotswap/hotswap/internal/runtime"
)

// TestOutputRotates: an app that writes without pause has its output file
// rotated past LogMaxSize: the copy holds the old lines, the file starts
// again from empty and the app's next lines land at its start (append
// mode: no hole of zero bytes), and the app keeps running.
func TestOutputRotates(t *testing.T) {
	root := t.TempDir()
	r := newRuntime(t, Config{Service: "spam", Command: []string{testBin, helperArg, "spam"},
		LogDir: filepath.Join(root, "logs"), LogMaxSize: 64 << 10, LogKeep: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inst, err := r.Start(ctx, hsruntime.Spec{Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Remove(context.Background())
	ident, _ := decodeID(inst.ID())
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	poll := func(what string, cond func() bool) {
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond) // polling a file another process writes, under ctx's deadline
		}
	}
	for round := 1; round <= 3; round++ {
		poll("the output to pass the limit", func() bool { return size(ident.Log) > 64<<10 })
		r.rotateAll()
		if size(ident.Log+".1") <= 64<<10 {
			t.Fatalf("round %d: rotated copy holds %d bytes, want the old output", round, size(ident.Log+".1"))
		}
		poll("new output after the rotation", func() bool { return size(ident.Log) > 0 })
		b, err := os.ReadFile(ident.Log)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 64<<10 || bytes.IndexByte(b[:min(len(b), 4096)], 0) >= 0 {
			t.Fatalf("round %d: after rotation the file has %d bytes, a hole: %v", round, len(b), bytes.IndexByte(b, 0) >= 0)
		}
	}
	if _, err := os.Stat(ident.Log + ".3"); err == nil {
		t.Error("more rotated copies than LogKeep")
	}
	if hsruntime.Stopped(inst) {
		t.Error("the app stopped")
	}
}
