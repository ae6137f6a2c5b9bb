// Package sampleapp is the small web app that ships inside the hotswap
// binary (`hotswap sampleapp`) and inside the test images. It exists so the
// demo and the end-to-end tests deploy something real: it listens on a port,
// answers health checks, has slow and streaming endpoints, and can misbehave
// on purpose so that the unhappy paths of a deploy can be shown and tested.
//
// Misbehaviour is chosen by flags, or by words in the version string so that
// one command template serves every case ("v3-unhealthy" never turns
// healthy; "v4-crash" exits at start; "v5-errors" answers 5xx at --error-rate
// or 50%; "v6-noport" runs but never listens).
//
// Like many real apps it does NOT drain on SIGTERM: it exits at once. That
// makes hotswap's own draining observable: if hotswap stopped an instance
// before its requests finished, those requests would fail.
package sampleapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options configures one run of the sample app.
type Options struct {
	Addr        string        // listen address, e.g. "127.0.0.1:3000" or ":3000"
	Version     string        // reported in every response
	Unhealthy   bool          // /health always answers 503
	CrashAtBoot bool          // exit with code 3 before listening
	NoListen    bool          // run without ever opening the port
	ErrorRate   float64       // fraction of / responses that are 500
	StartDelay  time.Duration // wait before listening (a slow boot)
	Drain       bool          // on SIGTERM, finish in-flight requests first
}

// Main parses args like a command line and runs until SIGTERM/SIGINT.
// It returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sampleapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	port := fs.Int("port", envInt("PORT", 3000), "port to listen on (env PORT)")
	host := fs.String("host", envStr("HOST", "127.0.0.1"), "address to listen on (env HOST)")
	fs.StringVar(&o.Version, "version", envStr("APP_VERSION", "dev"), "version to report (env APP_VERSION)")
	fs.BoolVar(&o.Unhealthy, "unhealthy", false, "never pass the health check")
	fs.BoolVar(&o.CrashAtBoot, "crash", false, "exit with code 3 at start")
	fs.BoolVar(&o.NoListen, "no-listen", false, "never open the port")
	fs.Float64Var(&o.ErrorRate, "error-rate", 0, "fraction of requests to / answered with 500")
	fs.DurationVar(&o.StartDelay, "start-delay", 0, "delay before listening")
	fs.BoolVar(&o.Drain, "drain", false, "finish in-flight requests on SIGTERM")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	applyVersionWords(&o)
	o.Addr = net.JoinHostPort(*host, strconv.Itoa(*port))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := Run(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "sampleapp %s: %v\n", o.Version, err)
		var ce crashError
		if errors.As(err, &ce) {
			return int(ce)
		}
		return 1
	}
	return 0
}

// applyVersionWords turns words in the version into misbehaviour so the demo
// and tests can pick a failure with the version alone.
func applyVersionWords(o *Options) {
	v := strings.ToLower(o.Version)
	switch {
	case strings.Contains(v, "unhealthy"):
		o.Unhealthy = true
	case strings.Contains(v, "crash"):
		o.CrashAtBoot = true
	case strings.Contains(v, "noport"):
		o.NoListen = true
	case strings.Contains(v, "errors") && o.ErrorRate == 0:
		o.ErrorRate = 0.5
	}
}

type crashError int

func (c crashError) Error() string { return fmt.Sprintf("crashed at boot (exit %d)", int(c)) }

// Run serves until ctx ends. It is the testable core of Main.
func Run(ctx context.Context, o Options, log io.Writer) error {
	fmt.Fprintf(log, "sampleapp %s starting on %s\n", o.Version, o.Addr)
	if o.CrashAtBoot {
		fmt.Fprintf(log, "sampleapp %s: simulated crash: cannot connect to database\n", o.Version)
		return crashError(3)
	}
	if o.StartDelay > 0 {
		select {
		case <-time.After(o.StartDelay):
		case <-ctx.Done():
			return nil
		}
	}
	if o.NoListen {
		fmt.Fprintf(log, "sampleapp %s: running without listening\n", o.Version)
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: Handler(o), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(log, "sampleapp %s listening on %s\n", o.Version, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintf(log, "sampleapp %s: stopping\n", o.Version)
	if o.Drain {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
	return srv.Close()
}

// Handler serves the app's routes; exported so tests can mount it directly.
//
//	/           "<version>\n", X-Version header; 500 at ErrorRate
//	/health     200 "ok", or 503 when Unhealthy
//	/slow?ms=N  answers after N ms (default 1500)
//	/stream?n=N&ms=M  server-sent events: N events (default 50) every M ms (default 100)
//	/pid        the process id (tests use it to kill the live instance, as an OOM kill would)
//	/ws         a WebSocket echoing each message with "<version> " in front
//	/forwarded  the X-Forwarded-Proto and X-Forwarded-Host the app received
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) { serveWebSocket(w, r, o.Version) })
	mux.HandleFunc("/forwarded", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", o.Version)
		fmt.Fprintf(w, "proto=%s host=%s\n", r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"))
	})
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", o.Version)
		fmt.Fprintf(w, "%d\n", os.Getpid())
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", o.Version)
		if o.Unhealthy {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms := queryInt(r, "ms", 1500)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("X-Version", o.Version)
		fmt.Fprintf(w, "%s\n", o.Version)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		n, ms := queryInt(r, "n", 50), queryInt(r, "ms", 100)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Version", o.Version)
		fl, _ := w.(http.Flusher)
		t := time.NewTicker(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "data: %s %d\n\n", o.Version, i)
			if fl != nil {
				fl.Flush()
			}
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Version", o.Version)
		if o.ErrorRate > 0 && rand.Float64() < o.ErrorRate {
			http.Error(w, o.Version+" failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s\n", o.Version)
	})
	return mux
}

func queryInt(r *http.Request, key string, def int) int {
	if v, err := strconv.Atoi(r.URL.Query().Get(key)); err == nil && v >= 0 {
		return v
	}
	return def
}

func envStr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}
