package edge

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Environment of the leader process TestLeaderKilled9 starts.
const (
	envLeaderLog    = "HOTSWAP_TEST_LEADER_LOG"
	envLeaderEdges  = "HOTSWAP_TEST_LEADER_EDGES"
	envLeaderTarget = "HOTSWAP_TEST_LEADER_V2"
	envLeaderStopAt = "HOTSWAP_TEST_LEADER_STOP_AT"
	envLeaderMarker = "HOTSWAP_TEST_LEADER_MARKER"
	envLeaderHold   = "HOTSWAP_TEST_LEADER_HOLD"
)

// TestLeaderProcess is not a test: it is the leader process of
// TestLeaderKilled9 (this test binary, run again). It starts a switch to v2
// and, at the named point of the round, writes the marker file and hangs
// until it is killed; at the points listed in the hold variable it hangs
// without a word (COMMITs it must never send).
func TestLeaderProcess(t *testing.T) {
	logPath := os.Getenv(envLeaderLog)
	if logPath == "" {
		t.Skip("the leader process of TestLeaderKilled9")
	}
	var edges []EdgeRef
	if err := json.Unmarshal([]byte(os.Getenv(envLeaderEdges)), &edges); err != nil {
		t.Fatal(err)
	}
	c, err := NewCoordinator(CoordinatorConfig{Edges: edges, Token: testToken, Log: NewFileLog(logPath)})
	if err != nil {
		t.Fatal(err)
	}
	stopAt, marker := os.Getenv(envLeaderStopAt), os.Getenv(envLeaderMarker)
	hold := strings.Split(os.Getenv(envLeaderHold), ",")
	c.setTestHook(func(point string) error {
		if slices.Contains(hold, point) {
			select {} // until SIGKILL
		}
		if point == stopAt {
			if err := os.WriteFile(marker, []byte(point), 0o600); err != nil {
				t.Error(err)
			}
			select {} // until SIGKILL
		}
		return nil
	})
	_, err = c.Switch(context.Background(), []Route{route("web", "v2", os.Getenv(envLeaderTarget))})
	t.Fatalf("the round ended (%v) instead of hanging at %s", err, stopAt)
}

// TestLeaderKilled9: a real leader process is killed with SIGKILL after
// PREPARE, and after its first COMMIT ack. A new leader on the same log
// recovers to one generation on every edge: the old one when nothing was
// committed (and no edge still holds the prepared one), the new one when
// the log had committed it. The log's history stays as committed.
func TestLeaderKilled9(t *testing.T) {
	for _, tc := range []struct {
		stopAt, hold string
		want         string
		wantGen      uint64
	}{
		{"prepared", "", "v1", 1},
		// Only edge-a gets COMMIT before the kill: a partial commit.
		{"committed:edge-a", "commit:edge-b,commit:edge-c", "v2", 2},
	} {
		t.Run(tc.stopAt, func(t *testing.T) {
			logPath, edges, _ := onV1(t, time.Minute)
			edgesJSON, _ := json.Marshal(refs(edges))
			marker := filepath.Join(t.TempDir(), "reached")
			cmd := exec.Command(os.Args[0], "-test.run=^TestLeaderProcess$")
			cmd.Env = append(os.Environ(),
				envLeaderLog+"="+logPath, envLeaderEdges+"="+string(edgesJSON),
				envLeaderTarget+"="+backend(t, "v2"), envLeaderStopAt+"="+tc.stopAt, envLeaderMarker+"="+marker,
				envLeaderHold+"="+tc.hold)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			waitFor(t, 30*time.Second, "leader process reaches "+tc.stopAt, func() bool {
				_, err := os.Stat(marker)
				return err == nil
			})
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-exited
			// Where the kill left the edges.
			if tc.want == "v1" {
				for _, e := range edges {
					if st := e.srv.State(); st.Prepared != 2 || st.Committed != 1 {
						t.Fatalf("edge %s before recovery: %+v, want 2 prepared over 1", e.name, st)
					}
				}
			} else if a, b := edges[0].table.version("web"), edges[1].table.version("web"); a != "v2" || b != "v1" {
				t.Fatalf("before recovery edge-a serves %q and edge-b %q, want v2 and v1 (a partial commit)", a, b)
			}

			again := newCoord(t, logPath, edges)
			if err := again.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			serving(t, edges, "web", tc.want, tc.wantGen)
			committed, pending, err := NewFileLog(logPath).Load()
			if err != nil || committed.Number != tc.wantGen || pending != 0 {
				t.Errorf("leader log after recovery: committed %d pending %d (%v), want %d and none", committed.Number, pending, err, tc.wantGen)
			}
		})
	}
}
