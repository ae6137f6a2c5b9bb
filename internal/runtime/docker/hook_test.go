package docker

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/runtime/docker/dockertest"
)

// TestRunHook: a hook sees the service's environment and its output is
// streamed; success, failure and a deadline all leave no container behind,
// and hooks never show up as instances.
func TestRunHook(t *testing.T) {
	f := newFixture(t, "", "v1")
	rt := f.runtime(t, func(c *Config) { c.Env = map[string]string{"DATABASE_URL": "postgres://db/app"} })
	tests := []struct {
		name    string
		argv    []string
		timeout time.Duration
		wantErr string // "" for success
		wantOut []string
	}{
		{"ok", []string{"hook", "--env"}, time.Minute, "", []string{
			"hook ran: --env", "env DATABASE_URL=postgres://db/app", "env HOTSWAP_SERVICE=" + rt.cfg.Service,
			"env HOTSWAP_VERSION=v1", "hook exits 0",
		}},
		{"non-zero exit", []string{"hook", "--exit", "7"}, time.Minute, "exit code 7", []string{"hook exits 7"}},
		{"deadline", []string{"hook", "--sleep", "1h"}, 2 * time.Second, context.DeadlineExceeded.Error(), []string{"hook ran"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			var out bytes.Buffer
			err := rt.RunHook(ctx, "v1", tc.argv, &out)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("RunHook: %v\n%s", err, out.String())
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("RunHook: %v, want an error saying %q", err, tc.wantErr)
			case tc.wantErr == context.DeadlineExceeded.Error() && !errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("RunHook: %v, want errors.Is DeadlineExceeded", err)
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			left, err := dockertest.Containers(context.Background(), f.cli, LabelHook, rt.cfg.Service)
			if err != nil || len(left) != 0 {
				t.Errorf("hook containers left: %q, %v", left, err)
			}
			if ids, err := rt.List(context.Background()); err != nil || len(ids) != 0 {
				t.Errorf("List = %q, %v; hooks are not instances", ids, err)
			}
		})
	}
}
