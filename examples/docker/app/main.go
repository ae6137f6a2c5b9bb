// Command web is the example app of examples/docker: a small JSON web
// service shaped the way hotswap recommends apps behave, so it can be
// copied as a starting point.
//
// What makes it a good citizen behind hotswap:
//
//   - It listens on $PORT (default 3000) on every interface of its
//     container, so the proxy reaches it whichever way it is configured to.
//   - It says which version it is (GET /, $APP_VERSION baked into the image,
//     else $HOTSWAP_VERSION, which hotswap sets to the tag it deployed), so a
//     deploy or rollback can be checked from outside.
//   - GET /health is cheap, has no side effects and answers 503 once the app
//     is shutting down, so no health checker keeps sending it work.
//   - On SIGTERM (hotswap's default stop signal, sent only after traffic has
//     moved away and in-flight requests drained) it stops accepting, lets
//     running requests finish within $SHUTDOWN_TIMEOUT (default 10s; keep it
//     under the service's stop_grace) and exits 0.
//   - `web migrate` is its database migration, meant for hotswap's
//     pre_traffic hook: it runs in a one-off container of the new image with
//     the service's environment before that version starts. Here it is a
//     no-op that prints what a real one would do.
//
// Usage:
//
//	web           serve HTTP
//	web migrate   run the (example) migrations and exit
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code, so a test
// could drive it, and main stays one line.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	log := newLogger(stderr, getenv("LOG_LEVEL"))
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := serve(ctx, log, settingsFrom(getenv)); err != nil {
			log.Error("web stopped", "err", err)
			return 1
		}
		return 0
	case "migrate":
		return migrate(stdout, settingsFrom(getenv))
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, "usage: web [serve|migrate]")
		return 0
	default:
		fmt.Fprintf(stderr, "web: unknown command %q (want serve or migrate)\n", cmd)
		return 2
	}
}

// settings is the app's configuration, all from the environment (twelve-
// factor style: the image is the same in every environment).
type settings struct {
	addr            string
	version         string
	shutdownTimeout time.Duration
}

func settingsFrom(getenv func(string) string) settings {
	s := settings{addr: ":3000", version: "dev", shutdownTimeout: 10 * time.Second}
	if p := getenv("PORT"); p != "" {
		s.addr = net.JoinHostPort("", p)
	}
	for _, k := range []string{"APP_VERSION", "HOTSWAP_VERSION"} {
		if v := getenv(k); v != "" {
			s.version = v
			break
		}
	}
	if d, err := time.ParseDuration(getenv("SHUTDOWN_TIMEOUT")); err == nil && d > 0 {
		s.shutdownTimeout = d
	}
	return s
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv}))
}

// serve answers HTTP until ctx ends (SIGTERM), then drains: Shutdown closes
// the listener at once and waits for running requests, bounded by the
// shutdown timeout, after which the remaining connections are closed.
func serve(ctx context.Context, log *slog.Logger, s settings) error {
	host, _ := os.Hostname() // the container ID's short form under Docker
	var draining atomic.Bool // set once on SIGTERM, read by /health
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, struct {
			Version  string `json:"version"`
			Hostname string `json:"hostname"`
		}{s.version, host})
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	srv := &http.Server{
		Addr:              s.addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.addr, err)
	}
	log.Info("web listening", "addr", ln.Addr().String(), "version", s.version)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	draining.Store(true)
	log.Info("shutting down: draining in-flight requests", "timeout", s.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("drain: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("drained; bye")
	return nil
}

// writeJSON answers v as one line of JSON with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	w.Write(body) // the client may be gone; nothing useful to do about it
}

// migrate is where a real app would apply its schema migrations (e.g. with
// a migration library against $DATABASE_URL). It must be idempotent: a
// deploy that fails later, or a rollback to this version, runs it again.
// This example only says what it would do, so the hook is real but
// harmless.
func migrate(stdout io.Writer, s settings) int {
	fmt.Fprintf(stdout, "migrate: version %s: schema is up to date (example app: nothing to apply)\n", s.version)
	return 0
}
