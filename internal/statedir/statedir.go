// Package statedir owns what makes a state directory one daemon's: an
// exclusive lock held for the daemon's whole life, and an owner ID unique to
// the directory that labels everything the daemon creates outside it
// (containers), so that two daemons on one host — staging and production —
// never touch each other's apps.
//
// The lock is taken before anything else reads or writes the directory; a
// second daemon (or a restore) on the same directory is refused at once,
// naming the PID that holds it, and changes nothing.
package statedir

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// File names inside the state directory.
const (
	LockFile  = "hotswap.lock" // flock'd by the running daemon; holds its PID
	OwnerFile = "owner"        // the owner ID, written once
)

// ErrLocked is returned (wrapped in *LockedError) when another process holds
// the state directory.
var ErrLocked = errors.New("state directory is in use")

// LockedError names the directory and the process holding it.
type LockedError struct {
	Dir string
	PID int // 0 when the holder's PID could not be read
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("state directory %s is in use by %s (a hotswap daemon already runs on it; stop it first, or give this one its own state_dir)", e.Dir, who)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is a held state directory. Release it with Close.
type Lock struct {
	f *os.File
}

// Acquire creates dir if needed (0700) and takes its exclusive lock without
// waiting. The lock is an flock on dir/hotswap.lock: the kernel drops it
// when the process dies, so a crashed daemon never leaves a stale lock.
// The file then holds the holder's PID, for the next one's error message.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, PID: readPID(path)}
		}
		return nil, fmt.Errorf("state dir lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("state dir lock %s: %w", path, err)
		}
	}
	return &Lock{f: f}, nil
}

// Close releases the lock. The file stays (removing it would race with a
// process that has just opened it).
func (l *Lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close() // closing the last descriptor drops the flock
	l.f = nil
	return err
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// Owner returns the state directory's owner ID, creating it on first use:
// "hs-" and 16 random hex digits, written with fsync and rename so a crash
// never leaves a half-written one. Every container the daemon creates
// carries it as a label; the daemon lists, adopts and removes only
// containers that carry its own.
func Owner(dir string) (string, error) {
	path := filepath.Join(dir, OwnerFile)
	if b, err := os.ReadFile(path); err == nil {
		id := strings.TrimSpace(string(b))
		if !validOwner(id) {
			return "", fmt.Errorf("owner file %s: malformed owner ID %q (delete it only if no container of this state dir exists)", path, id)
		}
		return id, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("owner file: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	id := "hs-" + hex.EncodeToString(b[:])
	if err := writeFileAtomic(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("owner file: %w", err)
	}
	return id, nil
}

func validOwner(id string) bool {
	rest, ok := strings.CutPrefix(id, "hs-")
	if !ok || len(rest) != 16 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}

// writeFileAtomic writes data to path through a temporary file, fsync and
// rename, then syncs the directory.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
