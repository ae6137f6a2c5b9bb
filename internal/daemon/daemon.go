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
	"github.com/hotswap/hotswap/internal/dashboard"
	"github.com/hotswap/hotswap/internal/deploy"
	"github.com/hotswap/hotswap/internal/proxy"
	"github.com/hotswap/hotswap/internal/release"
	"github.com/hotswap/hotswap/internal/statedir"
	"github.com/hotswap/hotswap/internal/version"
)

// Options configures a Daemon beyond its config file.
type Options struct {
	Log *slog.Logger
	// StopOnClose stops every app instance on Close (the demo, tests). A
	// production daemon leaves them running so a restart re-adopts them.
	StopOnClose bool
	// ShutdownTimeout bounds Close (default 30s, serve --stop-timeout):
	// in-flight requests get it less a reserve (a fifth, at most 5s) kept
	// for the engine and the store.
	ShutdownTimeout time.Duration
	// ConfigPath is the file Reload reads again ("" = reload refused).
	ConfigPath string
	// RemoveUnknown lets a daemon start on a new database although
	// instances of its state directory still run; recovery then removes
	// them. Without it such a start is refused (ErrStateNeedsOperator).
	RemoveUnknown bool
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
	tls    *tlsState          // nil without proxy.tls
	dash   *dashboard.Handler // the web dashboard, nil unless enabled
	// dashKey signs the dashboard's rollback links (nil unless enabled).
	dashKey []byte
	closer  []func() error // resources to release on Close, in reverse order
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

	// owner is the state directory's owner ID (statedir.Owner), on every
	// container this daemon creates.
	owner string
	// sweepers are the runtimes that can leave hook containers behind.
	sweepers []hookSweeper

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
	// The lock comes before anything reads or writes the state: a second
	// daemon on this directory must change nothing, not even recover.
	lock, err := statedir.Acquire(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	d.closer = append(d.closer, lock.Close)
	if d.owner, err = statedir.Owner(cfg.StateDir); err != nil {
		d.closeResources()
		return nil, err
	}
	st, fresh, err := d.openStore(ctx)
	if err != nil {
		d.closeResources()
		return nil, err
	}
	d.store = st
	d.closer = append(d.closer, st.Close)
	if err := st.SetAuditRetention(ctx, release.AuditRetention{MaxAge: cfg.Control.AuditMaxAge, MaxRows: cfg.Control.AuditMaxRows}); err != nil {
		d.closeResources()
		return nil, err
	}
	popts := proxyOptions(cfg.Proxy, d.log)
	switch cfg.Proxy.AccessLog {
	case "":
	case "stdout":
		popts.AccessLog = os.Stdout
	default:
		f, err := os.OpenFile(cfg.Proxy.AccessLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			d.closeResources()
			return nil, fmt.Errorf("proxy.access_log: %w", err)
		}
		d.closer = append(d.closer, f.Close)
		popts.AccessLog = f
	}
	d.proxy = proxy.New(popts)

	specs, err := d.buildServices(ctx)
	if err != nil {
		d.closeResources()
		return nil, err
	}
	if fresh && !opts.RemoveUnknown {
		runtimes := map[string]lister{}
		for _, sp := range specs {
			runtimes[sp.Name] = sp.Runtime
		}
		if err := d.checkUnknown(ctx, runtimes); err != nil {
			d.closeResources()
			// The database was created by this start: leave the directory
			// as it was, so the next start refuses the same way.
			for _, ext := range []string{"", "-wal", "-shm"} {
				_ = os.Remove(DBPath(cfg.StateDir) + ext)
			}
			return nil, err
		}
	}
	if err := d.loadDashboardKey(); err != nil {
		d.closeResources()
		return nil, err
	}
	notifier, err := d.buildNotifier()
	if err != nil {
		d.closeResources()
		return nil, err
	}
	if err := d.buildTLS(certificateAlerts(notifier)); err != nil {
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
		tokens = append(tokens, api.Token{Name: t.Name, Secret: []byte(t.Token.Value()), ReadOnly: t.Role == config.RoleViewer})
	}
	d.api = api.NewServer(api.Options{Engine: d.engine, Store: st, Tokens: tokens, Log: d.log, Reload: d.Reload,
		Certificates: d.apiCertificates})
	if err := d.buildDashboard(); err != nil {
		d.closeResources()
		return nil, err
	}
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
	d.sweepHooks(ctx)
	if err := d.engine.Recover(ctx); err != nil {
		// Reported per service; the others serve. A daemon that refused to
		// start because one app cannot would take every app down with it.
		d.log.Error("recovery incomplete", "err", err)
	}
	pln, hln, err := listenPublic(d.cfg.Proxy.Listen, d.httpsAddr())
	if err != nil {
		return err
	}
	d.serve(pln, d.plainHandler(), d.proxy.ConfigureServer)
	d.mu.Lock()
	d.proxyLn = pln
	d.mu.Unlock()
	d.startTLS(hln)

	sln, err := listenSocket(d.cfg.Control.Socket, d.cfg.Control.SocketGroup)
	if err != nil {
		return err
	}
	d.serve(sln, d.api.LocalHandler(), func(s *http.Server) { controlTimeouts(s); s.ConnContext = api.PeerConnContext })
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
		d.serve(tln, mux, controlTimeouts)
		d.mu.Lock()
		d.tcpLn = tln
		d.mu.Unlock()
	}
	d.log.Info("hotswap serving", "proxy", pln.Addr().String(), "socket", d.cfg.Control.Socket, "control", d.cfg.Control.Listen,
		"services", d.engine.Services())
	if d.dash != nil {
		d.log.Info("dashboard", "listen", d.ControlAddr(), "path", "/ui/", "public_url", d.cfg.Dashboard.PublicURL)
	}
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

// controlTimeouts are the control listeners' server timeouts.
func controlTimeouts(srv *http.Server) { srv.ReadHeaderTimeout = 10 * time.Second }

// proxyOptions maps the proxy block of the config to the proxy's options.
func proxyOptions(c config.Proxy, log *slog.Logger) proxy.Options {
	buf := int64(c.RequestBuffer)
	if buf == 0 {
		buf = -1 // request_buffer: 0 turns buffering off
	}
	return proxy.Options{HealthPath: c.HealthPath, ReadyPath: c.ReadyPath, ReadyServices: c.ReadyServices,
		Logger: log, ResponseHeaderTimeout: c.ResponseHeaderTimeout,
		ReadHeaderTimeout: c.ReadHeaderTimeout, ClientIdleTimeout: c.IdleTimeout,
		SendTimeout: c.SendTimeout, ClientBodyTimeout: c.ClientBodyTimeout, RequestBufferSize: buf,
		NoRequestID: !c.RequestID}
}

// serve runs an HTTP server on ln; configure sets its timeouts.
func (d *Daemon) serve(ln net.Listener, h http.Handler, configure func(*http.Server)) {
	srv := &http.Server{Handler: h, ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug)}
	configure(srv)
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
	d.announceStop(ctx)
	if d.engine != nil {
		// Deployments end now (recorded as interrupted), so the CLI streams
		// following them close instead of holding the shutdown.
		d.engine.Interrupt()
	}
	d.mu.Lock()
	servers := d.servers
	d.servers = nil
	d.mu.Unlock()
	if d.dash != nil {
		d.dash.Close() // its live streams would hold Shutdown until ctx ends
	}
	var errs []error
	var wg sync.WaitGroup
	// In-flight requests get the budget but a reserve: when they use all
	// of it (a stream on a draining version), the engine still has time to
	// see its drains end (their connections are closed here) and record
	// it before the store closes.
	sctx, scancel := shutdownBudget(ctx)
	defer scancel()
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Shutdown(sctx); err != nil {
				s.Close()
			}
		}()
	}
	d.closeTLS(ctx)
	wg.Wait()
	d.wg.Wait()
	if d.api != nil {
		d.api.Rejects().Flush(ctx)
	}
	if d.engine != nil {
		if err := d.engine.Close(ctx); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				// A deploy goroutine is still running: closing the store
				// under it would fail its last writes ("database is
				// closed"). Leave the store to the process's exit; the
				// next start records the deploy as interrupted.
				d.log.Error("stop timeout reached while a deploy or drain was still running; exiting without waiting for it", "err", err)
				return errors.Join(errs...)
			}
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

// listenSocket binds the control socket with mode 0600 (0660 and group
// group when set, see socketGroup), replacing a stale socket file left by
// a crash but never one a live daemon still answers on.
func listenSocket(path, group string) (net.Listener, error) {
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
	if group != "" {
		if err := socketGroup(path, group); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
}
