package process

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	hsruntime "github.com/hotswap/hotswap/internal/runtime"
)

// idPrefix marks (and versions) the encoding of a process instance ID.
const idPrefix = "proc1."

// identity is everything needed to find a process again after the daemon
// restarts, with no state but the ID the engine stored. Pid alone is not an
// identity: the kernel reuses pids. Pid + start time (clock ticks since
// boot, from /proc/<pid>/stat) + boot ID is.
type identity struct {
	Service string `json:"s"`
	Version string `json:"v"`
	Release int64  `json:"r,omitempty"`
	Pid     int    `json:"p"`
	Start   uint64 `json:"t"` // start time in clock ticks after boot
	Boot    string `json:"b"` // /proc/sys/kernel/random/boot_id
	Addr    string `json:"a"`
	Log     string `json:"l"` // absolute path of the output file
}

// encode renders the identity as an opaque, URL- and shell-safe string.
func (id identity) encode() string {
	b, err := json.Marshal(id)
	if err != nil {
		// Only strings and integers: Marshal cannot fail.
		panic(fmt.Sprintf("process: encode identity: %v", err))
	}
	return idPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// decodeID parses an ID made by encode. Anything else is ErrNotFound: no
// process of this runtime can have that ID.
func decodeID(s string) (identity, error) {
	var id identity
	rest, ok := strings.CutPrefix(s, idPrefix)
	if !ok {
		return id, fmt.Errorf("%q is not a process instance id: %w", s, hsruntime.ErrNotFound)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err == nil {
		err = json.Unmarshal(b, &id)
	}
	if err == nil && (id.Pid <= 0 || id.Start == 0 || id.Boot == "") {
		err = errors.New("missing pid, start time or boot id")
	}
	if err != nil {
		return id, fmt.Errorf("malformed process instance id %q: %v: %w", s, err, hsruntime.ErrNotFound)
	}
	return id, nil
}

// procStat is what hotswap reads from /proc/<pid>/stat.
type procStat struct {
	State byte   // R, S, D, Z (zombie), X (dead)…
	Pgrp  int    // process group ID
	Start uint64 // clock ticks after boot
}

// running reports whether the process is neither a zombie nor dead.
func (s procStat) running() bool { return s.State != 'Z' && s.State != 'X' }

// readStat reads the state and start time of pid. os.ErrNotExist (wrapped)
// means no such process.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// parseStat parses /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse /proc stat: no command name in %q", b)
	}
	// After ')': field 3 (state) is the first, field 5 (pgrp) the third,
	// field 22 (starttime) the 20th.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("parse /proc stat: %d fields after the command name", len(f))
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc stat process group: %w", err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc stat start time: %w", err)
	}
	return procStat{State: f[0][0], Pgrp: pgrp, Start: start}, nil
}

// alive reports whether the process named by id still runs: same boot, the
// pid exists, started at the same tick, and is not a zombie.
func alive(id identity) bool {
	if b, err := bootID(); err != nil || b != id.Boot {
		return false
	}
	st, err := readStat(id.Pid)
	if err != nil {
		return false
	}
	return st.Start == id.Start && st.running()
}

// groupRunning reports whether any process of group pgid still runs.
// Zombies do not count: an orphan stays one until init reaps it, which
// some container inits do late or never.
func groupRunning(pgid int) bool {
	if errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) {
		return false // no member at all, not even a zombie
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell: assume it runs, the grace bounds the wait
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.Pgrp == pgid && st.running() {
			return true
		}
	}
	return false
}

var (
	bootOnce sync.Once
	bootVal  string
	bootErr  error
)

// bootID identifies this boot of the machine; start times restart at zero
// on every boot, so they are only comparable within one.
func bootID() (string, error) {
	bootOnce.Do(func() {
		var b []byte
		b, bootErr = os.ReadFile("/proc/sys/kernel/random/boot_id")
		bootVal = strings.TrimSpace(string(b))
		if bootErr == nil && bootVal == "" {
			bootErr = errors.New("empty /proc/sys/kernel/random/boot_id")
		}
	})
	return bootVal, bootErr
}
