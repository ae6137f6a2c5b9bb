package cli

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/daemon"
)

func newServeCmd(g *globals) *cobra.Command {
	var logLevel string
	var logJSON, stopApps, removeUnknown bool
	var stopTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: the proxy on the stable port, the deploy engine and the control API",
		Long: `Serve runs hotswap: the reverse proxy on proxy.listen, the control API on the unix
socket (and control.listen if set), and the deploy engine. On start it puts each
service's live version back in service before accepting traffic. On SIGTERM it
stops accepting, lets in-flight requests finish and exits; apps keep running and
are re-adopted by the next start. On SIGHUP it reloads the config file (see
` + "`hotswap reload`" + `).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := g.resolveConfigPath()
			if p == "" {
				return usageErr("serve needs a config file: -c FILE (or ./hotswap.yaml); try `hotswap demo` for a self-contained run")
			}
			cfg, err := config.Load(p)
			if err != nil {
				return withCode(ExitUsage, err)
			}
			log, err := newLogger(cmd.ErrOrStderr(), logLevel, logJSON)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			d, err := daemon.New(ctx, cfg, daemon.Options{Log: log, StopOnClose: stopApps, ConfigPath: p, RemoveUnknown: removeUnknown,
				ShutdownTimeout: stopTimeout})
			if err != nil {
				return err
			}
			// SIGHUP reloads the config file (systemd's ExecReload may send it,
			// or run `hotswap reload`, which reports errors to the caller).
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-hup:
						if _, err := d.Reload(ctx); err != nil {
							log.Error("reload on SIGHUP", "err", err)
						}
					case <-ctx.Done():
						return
					}
				}
			}()
			return d.Run(ctx)
		},
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().BoolVar(&logJSON, "log-json", false, "log as JSON lines (for journald/log shippers)")
	cmd.Flags().BoolVar(&stopApps, "stop-apps-on-exit", false, "stop every app when the daemon exits (development; by default apps keep running and the next start re-adopts them)")
	cmd.Flags().DurationVar(&stopTimeout, "stop-timeout", 30*time.Second, "on SIGTERM, how long in-flight requests and the running deploy get before serve exits (keep systemd's TimeoutStopSec above it)")
	cmd.Flags().BoolVar(&removeUnknown, "remove-unknown", false, "start on a new (empty) database although apps of this state directory still run, and remove them (by default such a start is refused: restore a backup instead)")
	return cmd
}

func newLogger(w interface{ Write([]byte) (int, error) }, level string, asJSON bool) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErr("--log-level %q: %v", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if asJSON {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
