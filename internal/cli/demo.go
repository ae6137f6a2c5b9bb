package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/daemon"
	"github.com/hotswap/hotswap/internal/loadgen"
)

type demoOptions struct {
	workers int
	keep    bool
	verbose bool
}

func newDemoCmd(g *globals) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "A self-contained tour: deploys, a refused broken version and a rollback under live load",
		Long: `Demo starts a real hotswap daemon on loopback with a temporary state directory and
the sample web app built into this binary, puts continuous load through the proxy,
and then: deploys v1, deploys v2, tries a broken v3 (never healthy: refused, v2
keeps serving) and rolls back to v1. It ends with a summary of requests sent,
requests failed and versions seen. Nothing is installed; everything it started is
stopped and its temporary directory removed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runDemo(cmd.Context(), cmd.OutOrStdout(), o) },
	}
	cmd.Flags().IntVar(&o.workers, "workers", 16, "concurrent load workers")
	cmd.Flags().BoolVar(&o.keep, "keep", false, "keep the temporary state directory (to look at the database and logs)")
	cmd.Flags().BoolVar(&o.verbose, "verbose", false, "show the daemon's log")
	return cmd
}

// demoConfig is the demo's config file, in the same YAML a user writes.
const demoConfig = `state_dir: %q
proxy:
  listen: 127.0.0.1:0
control:
  socket: %q
services:
  - name: shop
    hosts: [shop.localhost]
    runtime: process
    process:
      command: [%q, sampleapp, --port, "{port}", --version, "{version}"]
    health:
      path: /health
      interval: 200ms
      timeout: 1s
      healthy_threshold: 3
      deadline: 4s
    drain_timeout: 10s
    stop_grace: 5s
    warm_for: 5m
`

func runDemo(ctx context.Context, w io.Writer, o demoOptions) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	dir, err := os.MkdirTemp("", "hotswap-demo-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	sock := filepath.Join(dir, "hotswap.sock")
	cfg, err := config.Parse("demo.yaml", []byte(fmt.Sprintf(demoConfig, dir, sock, exe)))
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	logw := io.Discard
	if o.verbose {
		logw = os.Stderr
	}
	d, err := daemon.New(ctx, cfg, daemon.Options{Log: slog.New(slog.NewTextHandler(logw, nil)), StopOnClose: true,
		ShutdownTimeout: 15 * time.Second})
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = d.Close(cctx)
	}()
	c := api.DialSocket(sock, "demo")
	fmt.Fprintf(w, "hotswap demo: proxy on http://%s (Host: shop.localhost), state in %s\n\n", d.ProxyAddr(), dir)

	type stepResult struct {
		what  string
		state string
		took  time.Duration
	}
	var results []stepResult
	step := func(what string, do func() (api.Accepted, error)) {
		fmt.Fprintf(w, "── %s\n", what)
		start := time.Now()
		acc, err := do()
		if err != nil {
			fmt.Fprintf(w, "  refused: %v\n\n", err)
			results = append(results, stepResult{what, "refused", time.Since(start)})
			return
		}
		rel, _ := follow(ctx, c, indent{w}, acc.Release.ID, false)
		results = append(results, stepResult{what, rel.State, time.Since(start)})
		fmt.Fprintln(w)
	}
	deploy := func(v string) func() (api.Accepted, error) {
		return func() (api.Accepted, error) {
			return c.Deploy(ctx, "shop", api.DeployRequest{Version: v, Note: "demo"})
		}
	}

	step("deploy v1 (first version: nothing serves before it)", deploy("v1"))

	loadCtx, stopLoad := context.WithTimeout(ctx, 2*time.Minute)
	defer stopLoad()
	load := loadgen.Start(loadCtx, loadgen.Options{URL: "http://" + d.ProxyAddr(), Host: "shop.localhost",
		Workers: o.workers, SlowWorkers: 4, SlowMS: 1500, Streams: 1, MaxRequests: 2_000_000})
	defer load.Stop()
	fmt.Fprintf(w, "── load started: %d workers, 4 slow-request workers (1.5 s each), 1 streaming connection\n\n", o.workers)

	step("deploy v2 under load", deploy("v2"))
	step("deploy v3-unhealthy (its health check never passes: must be refused, v2 keeps serving)", deploy("v3-unhealthy"))
	step("rollback to v1 (still warm: traffic flips back)", func() (api.Accepted, error) {
		return c.Rollback(ctx, "shop", api.RollbackRequest{Version: "v1", Note: "demo rollback"})
	})
	res := load.Stop()

	fmt.Fprintln(w, "── summary")
	for _, r := range results {
		fmt.Fprintf(w, "  %-90s %-9s %s\n", r.what, r.state, fmtDur(r.took))
	}
	fmt.Fprintf(w, "\n  requests sent:   %d\n  requests failed: %d\n  stream events:   %d\n  versions seen:   %s\n",
		res.Requests, res.Failed, res.StreamEvents, versionsLine(res.Versions))
	for _, f := range res.Failures {
		fmt.Fprintf(w, "  failure: %s\n", f)
	}
	if st, err := c.Status(ctx, "shop"); err == nil && len(st) == 1 && st[0].Live != nil {
		fmt.Fprintf(w, "  live now:        %s\n", st[0].Live.Version)
	}
	if o.keep {
		fmt.Fprintf(w, "  state kept in:   %s\n", dir)
	}
	if res.Failed > 0 {
		return withCode(ExitFailed, fmt.Errorf("%d requests failed during the demo", res.Failed))
	}
	return nil
}

func versionsLine(m map[string]int64) string {
	var parts []string
	for _, v := range []string{"v1", "v2", "v3-unhealthy"} {
		if n, ok := m[v]; ok {
			parts = append(parts, fmt.Sprintf("%s (%d)", v, n))
		}
	}
	for v, n := range m {
		if v != "v1" && v != "v2" && v != "v3-unhealthy" {
			parts = append(parts, fmt.Sprintf("%s (%d)", v, n))
		}
	}
	return strings.Join(parts, ", ")
}

// indent prefixes every line written through it, to nest step output.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	s := strings.ReplaceAll(strings.TrimRight(string(p), "\n"), "\n", "\n  ")
	if _, err := io.WriteString(i.w, "  "+s+"\n"); err != nil {
		return 0, err
	}
	return len(p), nil
}
