// Package daemon wires hotswap together: config → store → runtimes →
// engine → proxy → control API, and owns the listeners. A Daemon is a value
// with Start and Close so that tests and the demo run the real thing on
// port 0 in a temporary directory.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/deploy"
	"github.com/hotswap/hotswap/internal/proxy"
	"github.com/hotswap/hotswap/internal/release"
	"github.com/hotswap/hotswap/internal/version"
)

// Options configures a Daemon beyond its config file.
type Options struct {
	Log *slog.Logger
	// StopOnClose stops every app instance on Close (the demo, tests). A
	// production daemon leaves them running so a restart re-adopts them.
	StopOnClose bool
	// ShutdownTimeout bounds how long Close waits for in-flight proxied
	// requests (default 30s).
	ShutdownTimeout time.Duration
	// ConfigPath is the file Reload reads again ("" = reload refused).
	ConfigPath string
}

// Daemon is one running hotswap.
type Daemon struct {
	cfg    *config.Config
	opts   Options
	log    *slog.Logger
	store  *release.Store
	proxy  *proxy.Proxy
	engine *deploy.Engine
	api    *api.Server
	closer []func() error // resources to release on Close, in reverse order
	// versions holds each service's compiled version rule, built once by
	// buildServices and shared with the webhook endpoints.
	versions map[string]*version.Validator
	dc       *client.Client // Docker, created when a service first needs it

	reloadMu sync.Mutex // one reload at a time, not during Start; guards cfg, versions, hooksMounted
	// hooks is the service set the webhook endpoints consult on each
	// request; a reload replaces it. hooksMounted: Start mounted them.
	hooks        atomic.Pointer[hookServices]
	hooksMounted bool
	sockPath     string // the control socket (a reload cannot change it)

	mu      sync.Mutex // guards servers, proxyLn, sockPath, tcpLn
	servers []*http.Server
	proxyLn net.Listener
	tcpLn   net.Listener
	sock    string
	wg      sync.WaitGroup // serving goroutines
}

// New opens the store, builds each service's runtime and the engine. It
// binds nothing yet: Start does.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Daemon, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	d := &Daemon{cfg: cfg, opts: opts, log: opts.Log, versions: map[string]*version.Validator{}, sockPath: cfg.Control.Socket}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	st, err := release.Open(ctx, filepath.Join(cfg.StateDir, "hotswap.db"))
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	d.store = st
	d.closer = append(d.closer, st.Close)
	d.proxy = proxy.New(proxy.Options{HealthPath: cfg.Proxy.HealthPath, Logger: d.log,
		ResponseHeaderTimeout: cfg.Proxy.ResponseHeaderTimeout})

	specs, err := d.buildServices(ctx)
	if err != nil {
		d.closeResources()
		return nil, err
	}
	notifier, err := d.buildNotifier()
	if err != nil {
		d.closeResources()
		return nil, err
	}
	d.engine, err = deploy.New(deploy.Options{Store: st, Proxy: d.proxy, Log: d.log, StopOnClose: opts.StopOnClose,
		Notifier: notifier}, specs)
	if err != nil {
		d.closeResources()
		return nil, err
	}
	tokens := make([]api.Token, 0, len(cfg.Control.Tokens))
	for _, t := range cfg.Control.Tokens {
		tokens = append(tokens, api.Token{Name: t.Name, Secret: []byte(t.Token.Value())})
	}
	d.api = api.NewServer(api.Options{Engine: d.engine, Store: st, Tokens: tokens, Log: d.log, Reload: d.Reload})
	return d, nil
}

// Engine exposes the deploy engine (tests, the demo).
func (d *Daemon) Engine() *deploy.Engine { return d.engine }

// Store exposes the release store (tests).
func (d *Daemon) Store() *release.Store { return d.store }

// Start re-adopts or restarts each service's live version — before any
// traffic is accepted — then binds the proxy, the control socket and the
// optional TCP listener and serves them.
func (d *Daemon) Start(ctx context.Context) error {
	d.reloadMu.Lock() // a SIGHUP during start waits for it
	defer d.reloadMu.Unlock()
	if err := d.engine.Recover(ctx); err != nil {
		// Reported per service; the others serve. A daemon that refused to
		// start because one app cannot would take every app down with it.
		d.log.Error("recovery incomplete", "err", err)
	}
	pln, err := listenProxy(d.cfg.Proxy.Listen)
	if err != nil {
		return err
	}
	d.serve(pln, d.proxy, d.cfg.Proxy.ReadHeaderTimeout, d.cfg.Proxy.IdleTimeout)
	d.mu.Lock()
	d.proxyLn = pln
	d.mu.Unlock()

	sln, err := listenSocket(d.cfg.Control.Socket)
	if err != nil {
		return err
	}
	d.serve(sln, d.api.LocalHandler(), 10*time.Second, 0)
	d.mu.Lock()
	d.sock = d.cfg.Control.Socket
	d.mu.Unlock()

	if d.cfg.Control.Listen != "" {
		mux, err := d.remoteMux()
		if err != nil {
			return err
		}
		tln, err := net.Listen("tcp", d.cfg.Control.Listen)
		if err != nil {
			return fmt.Errorf("control listen %s: %w", d.cfg.Control.Listen, err)
		}
		d.serve(tln, mux, 10*time.Second, 0)
		d.mu.Lock()
		d.tcpLn = tln
		d.mu.Unlock()
	}
	d.log.Info("hotswap serving", "proxy", pln.Addr().String(), "socket", d.cfg.Control.Socket, "control", d.cfg.Control.Listen,
		"services", d.engine.Services())
	return nil
}

// Run starts the daemon and serves until ctx ends, then closes it.
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.Start(ctx); err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), d.opts.ShutdownTimeout)
		defer cancel()
		return errors.Join(err, d.Close(cctx))
	}
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), d.opts.ShutdownTimeout)
	defer cancel()
	return d.Close(cctx)
}

// ProxyAddr is the proxy's bound address ("" before Start).
func (d *Daemon) ProxyAddr() string { return addrOf(&d.mu, &d.proxyLn) }

// ControlAddr is the TCP control listener's bound address, if any.
func (d *Daemon) ControlAddr() string { return addrOf(&d.mu, &d.tcpLn) }

// SocketPath is the control socket.
func (d *Daemon) SocketPath() string { return d.sockPath }

func addrOf(mu *sync.Mutex, ln *net.Listener) string {
	mu.Lock()
	defer mu.Unlock()
	if *ln == nil {
		return ""
	}
	return (*ln).Addr().String()
}

func (d *Daemon) serve(ln net.Listener, h http.Handler, readHeader, idle time.Duration) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeader, IdleTimeout: idle,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug)}
	d.mu.Lock()
	d.servers = append(d.servers, srv)
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("serve", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// Close stops accepting, lets in-flight requests finish (bounded by ctx),
// stops the engine and closes the store. App instances keep running unless
// StopOnClose, so a restarted daemon re-adopts them.
func (d *Daemon) Close(ctx context.Context) error {
	d.mu.Lock()
	servers := d.servers
	d.servers = nil
	d.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Shutdown(ctx); err != nil {
				s.Close()
			}
		}()
	}
	wg.Wait()
	d.wg.Wait()
	if d.engine != nil {
		if err := d.engine.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if d.sock != "" {
		_ = os.Remove(d.sock)
	}
	errs = append(errs, d.closeResources())
	return errors.Join(errs...)
}

func (d *Daemon) closeResources() error {
	var errs []error
	for i := len(d.closer) - 1; i >= 0; i-- {
		if err := d.closer[i](); err != nil {
			errs = append(errs, err)
		}
	}
	d.closer = nil
	return errors.Join(errs...)
}

// listenSocket binds the control socket with mode 0600, replacing a stale
// socket file left by a crash but never one a live daemon still answers on.
func listenSocket(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another hotswap daemon is running", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	}
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return ln, nil
}
