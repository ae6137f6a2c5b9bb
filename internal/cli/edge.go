package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotswap/hotswap/internal/edge"
	"github.com/hotswap/hotswap/internal/proxy"
)

// edgeOptions are `hotswap edge`'s flags.
type edgeOptions struct {
	configPath string
	logLevel   string
	logJSON    bool
}

func newEdgeCmd(g *globals) *cobra.Command {
	var o edgeOptions
	cmd := &cobra.Command{
		Use:   "edge --edge-config FILE",
		Short: "Run an edge proxy on one node of a many-host (Swarm) cluster",
		Long: `Edge runs the proxy of one node of a cluster: the load balancer sends traffic to
its listen address, and the leader (hotswap serve on a manager) moves that
traffic between versions with a two-phase commit to every edge. An edge
decides nothing: it serves the last generation it committed, kept in its
state file, and answers GET /ready on its control address with 503 while it
lags behind the leader.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.configPath == "" {
				return usageErr("edge needs --edge-config FILE")
			}
			cfg, err := edge.LoadConfig(o.configPath)
			if err != nil {
				return withCode(ExitUsage, err)
			}
			token, err := cfg.Token()
			if err != nil {
				return withCode(ExitUsage, err)
			}
			log, err := newLogger(cmd.ErrOrStderr(), o.logLevel, o.logJSON)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runEdge(ctx, cfg, token, log, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "edge-config", envOr("HOTSWAP_EDGE_CONFIG", ""), "edge config file (env HOTSWAP_EDGE_CONFIG)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&o.logJSON, "log-json", false, "log JSON lines")
	return cmd
}

// runEdge serves one edge until ctx ends: the proxy with the configured
// services, the state file's generation installed before the first
// request, and the protocol on the control listener. listening, if set, is
// told both bound addresses (tests listen on port 0).
func runEdge(ctx context.Context, cfg edge.Config, token string, log *slog.Logger, listening func(traffic, control string)) error {
	p := proxy.New(proxy.Options{Logger: log})
	for _, s := range cfg.Services {
		if _, err := p.SetService(s.Name, s.Hosts, s.PathPrefix, proxy.ServiceOptions{StripPrefix: s.StripPrefix}); err != nil {
			return withCode(ExitUsage, fmt.Errorf("edge config: service %s: %w", s.Name, err))
		}
	}
	table := &edge.ProxyTable{Proxy: p, Local: cfg.NodeAddress, Log: log}
	srv, err := edge.NewServer(cfg.ServerConfig(token, table))
	if err != nil {
		return err
	}
	trafficLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("edge: listen %s: %w", cfg.Listen, err)
	}
	controlLn, err := net.Listen("tcp", cfg.Control)
	if err != nil {
		trafficLn.Close()
		return fmt.Errorf("edge: control listen %s: %w", cfg.Control, err)
	}
	traffic := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	control := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	errs := make(chan error, 2)
	go func() { errs <- traffic.Serve(trafficLn) }()
	go func() { errs <- control.Serve(controlLn) }()
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { table.Watch(wctx, cfg.Interval()); close(watched) }()
	defer func() { stopWatch(); <-watched }()
	log.Info("edge serving", "edge", cfg.Name, "listen", trafficLn.Addr().String(),
		"control", controlLn.Addr().String(), "generation", srv.State().Committed)
	if listening != nil {
		listening(trafficLn.Addr().String(), controlLn.Addr().String())
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errs:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	control.Close()
	if err := traffic.Shutdown(sctx); err != nil {
		log.Warn("edge shutdown", "err", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("edge: %w", serveErr)
	}
	return nil
}
