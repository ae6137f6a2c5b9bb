package process

import (
	"errors"
	"os"
	"strings"
	"testing"

	hsruntime "github.com/hotswap/hotswap/internal/runtime"
)

func TestParseStat(t *testing.T) {
	// Fields 3…22 after the command name; starttime (22) is 987654.
	tail := " S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 50"
	tests := []struct {
		name, comm string
	}{
		{"plain", "(app)"},
		{"spaces and parens in the name", "(my (weird) app) x)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := parseStat([]byte("4242 " + tc.comm + tail))
			if err != nil {
				t.Fatal(err)
			}
			if st.State != 'S' || st.Pgrp != 4242 || st.Start != 987654 {
				t.Errorf("parseStat = %+v", st)
			}
		})
	}
	for _, bad := range []string{"", "4242 app S 1", "4242 (app) S 1 2 3"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

// TestReadStatSelf checks the parser against the real /proc.
func TestReadStatSelf(t *testing.T) {
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !st.running() || st.Start == 0 || st.Pgrp == 0 {
		t.Errorf("readStat(self) = %+v", st)
	}
}

func TestIdentityRoundTrip(t *testing.T) {
	in := identity{Service: "web", Version: "v1.2-rc.1", Release: 9, Pid: 77, Start: 123456,
		Boot: "a-b-c", Addr: "127.0.0.1:4100", Log: "/var/log/hotswap/web-v1 2-*.log"}
	id := in.encode()
	if !strings.HasPrefix(id, idPrefix) || strings.ContainsAny(id, " /+=\n") {
		t.Errorf("id %q is not compact and URL-safe", id)
	}
	out, err := decodeID(id)
	if err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("round trip: %+v, want %+v", out, in)
	}
	if _, err := decodeID("proc1.e30"); !errors.Is(err, hsruntime.ErrNotFound) { // "{}"
		t.Errorf("decodeID of an empty identity: %v, want ErrNotFound", err)
	}
}
