package statedir

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestLockIsExclusive: a second Acquire on a held directory fails at once
// with the holder's PID; after Close it succeeds. flock locks are per open
// file, so this holds within one process too.
func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || le.PID != os.Getpid() ||
		!strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("second Acquire: %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Close: %v", err)
	}
	l2.Close()
}

// TestOwnerIsStableAndUnique: the owner ID is created once per directory,
// read back the same, differs between directories, and a damaged file is
// an error rather than a silently new owner.
func TestOwnerIsStableAndUnique(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	o1, err := Owner(a)
	if err != nil {
		t.Fatal(err)
	}
	o2, _ := Owner(a)
	o3, _ := Owner(b)
	if o1 != o2 || o1 == o3 || !validOwner(o1) {
		t.Fatalf("owners %q %q %q", o1, o2, o3)
	}
	if err := os.WriteFile(a+"/"+OwnerFile, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Owner(a); err == nil {
		t.Fatal("a malformed owner file was accepted")
	}
}
