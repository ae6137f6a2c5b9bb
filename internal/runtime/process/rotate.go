package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// rotateEvery is how often the runtime checks the size of its instances'
// output files.
const rotateEvery = 5 * time.Second

// Defaults for Config.LogMaxSize and Config.LogKeep.
const (
	DefaultLogMaxSize = 50 << 20
	DefaultLogKeep    = 3
)

// rotateLoop rotates the output file of every running instance that grew
// past LogMaxSize, until the runtime is closed. Owned by the Runtime (wg).
func (r *Runtime) rotateLoop() {
	defer r.wg.Done()
	t := time.NewTicker(rotateEvery)
	defer t.Stop()
	for {
		select {
		case <-r.closing:
			return
		case <-t.C:
			r.rotateAll()
		}
	}
}

// rotateAll checks each running instance's output file once.
func (r *Runtime) rotateAll() {
	ids, err := r.List(context.Background())
	if err != nil {
		return
	}
	for _, id := range ids {
		ident, err := decodeID(id)
		if err != nil {
			continue
		}
		if err := rotateIfLarge(ident, r.cfg.LogMaxSize, r.cfg.LogKeep); err != nil {
			r.log.Warn("rotate output", "version", ident.Version, "log", ident.Log, "err", err)
		}
	}
}

// rotateIfLarge copies the output file to <log>.1 (shifting older copies
// up to keep) and truncates it, when it is larger than max. The app keeps
// its descriptor: truncating is safe only because it writes in append mode
// (O_APPEND, which Start sets; checked in /proc for adopted processes, so
// an app started by an older hotswap is left alone rather than given a
// file with a hole). Lines written between the copy and the truncation
// are lost; that is the price of never putting the daemon in the app's
// output path.
func rotateIfLarge(id identity, max int64, keep int) error {
	fi, err := os.Stat(id.Log)
	if err != nil || fi.Size() <= max {
		return nil
	}
	if !appendMode(id.Pid) {
		return errors.New("output not opened in append mode (started by an older hotswap): not rotated")
	}
	for i := keep - 1; i >= 1; i-- {
		_ = os.Rename(id.Log+"."+strconv.Itoa(i), id.Log+"."+strconv.Itoa(i+1))
	}
	if keep > 0 {
		if err := copyOut(id.Log, id.Log+".1"); err != nil {
			return err
		}
	}
	return os.Truncate(id.Log, 0)
}

// appendMode reports whether pid's stdout is open with O_APPEND.
func appendMode(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/fdinfo/1")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			f, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && f&uint64(os.O_APPEND) != 0
		}
	}
	return false
}

func copyOut(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return out.Close()
}
