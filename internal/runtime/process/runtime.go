// Package process runs a service's versions as local processes: hotswap's
// runtime for apps that are a binary or a script on the same machine.
//
// Each instance is started without a shell, in a process group of its own
// (so the stop signal reaches the app's children too and the app survives a
// daemon restart), with its output going straight to a file under LogDir.
// Everything needed to find it again after a daemon restart — pid, process
// start time, boot ID, address, version, log file — is encoded in its ID,
// and a small record file beside the output (see List) lets the instances
// be found even without the engine's database.
package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	hsruntime "github.com/hotswap/hotswap/internal/runtime"
)

// hookWaitDelay bounds how long RunHook waits for output from processes
// that left the hook's process group after the hook itself ended.
const hookWaitDelay = time.Second

// Runtime starts and adopts local processes of one service.
type Runtime struct {
	cfg Config
	log *slog.Logger

	closing   chan struct{} // closed by Close: adopted-instance pollers return
	closeOnce sync.Once
	wg        sync.WaitGroup // the pollers of adopted instances

	mu       sync.Mutex           // guards children
	children map[string]*instance // running processes started by this value, by ID
}

var _ hsruntime.Runtime = (*Runtime)(nil)

// New validates cfg, fills in its defaults and creates LogDir. log may be
// nil.
func New(cfg Config, log *slog.Logger) (*Runtime, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("process runtime %q: %w", cfg.Service, err)
	}
	if cfg.LogDir, err = filepath.Abs(cfg.LogDir); err != nil {
		return nil, fmt.Errorf("process runtime %q: log dir: %w", cfg.Service, err)
	}
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("process runtime %q: %w", cfg.Service, err)
	}
	if _, err := bootID(); err != nil {
		return nil, fmt.Errorf("process runtime %q needs Linux /proc: %w", cfg.Service, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runtime{
		cfg:      cfg,
		log:      log.With("runtime", "process", "service", cfg.Service),
		closing:  make(chan struct{}),
		children: make(map[string]*instance),
	}
	if cfg.LogMaxSize > 0 {
		r.wg.Add(1)
		go r.rotateLoop()
	}
	return r, nil
}

// Close stops watching adopted processes and waits for those watchers. It
// leaves every app running (they outlive the daemon by design); the Done
// channels of adopted instances then never close, so call it only when the
// daemon shuts down.
func (r *Runtime) Close() error {
	r.closeOnce.Do(func() { close(r.closing) })
	r.wg.Wait()
	return nil
}

// Prepare checks that the version's executable (Command[0] after
// substitution) exists and is executable, and that Dir exists. It returns
// ErrArtifactMissing naming the exact path otherwise.
func (r *Runtime) Prepare(ctx context.Context, version string, out io.Writer) (hsruntime.Artifact, error) {
	if err := ctx.Err(); err != nil {
		return hsruntime.Artifact{}, fmt.Errorf("prepare %s: %w", version, err)
	}
	v := r.vars(version, 0, 0)
	argv, dir := expand(r.cfg.Command, v), v.replacer().Replace(r.cfg.Dir)
	path, err := resolve(argv[0], dir)
	if err != nil {
		return hsruntime.Artifact{}, fmt.Errorf("prepare %s: %w", version, err)
	}
	if out != nil {
		fmt.Fprintf(out, "%s %s: %s\n", r.cfg.Service, version, path)
	}
	return hsruntime.Artifact{Ref: commandLine(argv)}, nil
}

// Start launches version on a free port of Host and returns once the
// process exists. It does not wait for the app to listen.
func (r *Runtime) Start(ctx context.Context, spec hsruntime.Spec) (hsruntime.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Version, err)
	}
	port, err := freePort(r.cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Version, err)
	}
	v := r.vars(spec.Version, port, spec.ReleaseID)
	argv, dir := expand(r.cfg.Command, v), v.replacer().Replace(r.cfg.Dir)
	path, err := resolve(argv[0], dir)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Version, err)
	}
	logf, err := os.CreateTemp(r.cfg.LogDir, fileSafe(r.cfg.Service)+"-"+fileSafe(spec.Version)+"-*.log")
	if err != nil {
		return nil, fmt.Errorf("start %s: output file: %w", spec.Version, err)
	}
	// The app gets the file in append mode, so that rotation can truncate
	// it under the app without leaving a hole (see rotateIfLarge).
	appendf, err := os.OpenFile(logf.Name(), os.O_WRONLY|os.O_APPEND, 0)
	logf.Close()
	if err != nil {
		os.Remove(logf.Name())
		return nil, fmt.Errorf("start %s: output file: %w", spec.Version, err)
	}
	logf = appendf
	cmd := &exec.Cmd{
		Path:   path,
		Args:   argv,
		Dir:    dir,
		Env:    r.env(v, spec.Env),
		Stdout: logf, // a file, not a pipe: the app must not get SIGPIPE when the daemon goes away
		Stderr: logf,
		// Its own group: the stop signal reaches the app's children, and a
		// terminal's or the daemon's group signals do not reach the app.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = cmd.Start()
	logf.Close() // the child holds its own descriptor
	if err != nil {
		os.Remove(logf.Name())
		return nil, fmt.Errorf("start %s: %s: %w", spec.Version, commandLine(argv), err)
	}
	pid := cmd.Process.Pid
	// Our unreaped child cannot disappear from /proc before Wait, so this
	// read cannot race with its exit.
	st, err := readStat(pid)
	if err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
		os.Remove(logf.Name())
		return nil, fmt.Errorf("start %s: read start time of pid %d: %w", spec.Version, pid, err)
	}
	boot, _ := bootID() // checked by New
	inst := newInstance(r, identity{
		Service: r.cfg.Service,
		Version: spec.Version,
		Release: spec.ReleaseID,
		Pid:     pid,
		Start:   st.Start,
		Boot:    boot,
		Addr:    net.JoinHostPort(r.cfg.Host, strconv.Itoa(port)),
		Log:     logf.Name(),
	}, true)
	if err := writeRecord(logf.Name(), inst.id); err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
		os.Remove(logf.Name())
		return nil, fmt.Errorf("start %s: instance record: %w", spec.Version, err)
	}
	r.mu.Lock()
	r.children[inst.id] = inst
	r.mu.Unlock()
	go inst.watchChild(cmd)
	r.log.Info("instance started", "version", spec.Version, "release", spec.ReleaseID,
		"pid", pid, "addr", inst.ident.Addr, "log", inst.ident.Log)
	return inst, nil
}

// forget drops a child that has ended from the children map.
func (r *Runtime) forget(id string) {
	r.mu.Lock()
	delete(r.children, id)
	r.mu.Unlock()
}

// Adopt finds the process an ID names: a running child of this value, or
// any process that still has the recorded pid, start time and boot. A
// process that ended is gone for good: ErrNotFound.
func (r *Runtime) Adopt(ctx context.Context, id string) (hsruntime.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("adopt: %w", err)
	}
	r.mu.Lock()
	inst, ok := r.children[id]
	r.mu.Unlock()
	if ok {
		return inst, nil
	}
	ident, err := decodeID(id)
	if err != nil {
		return nil, fmt.Errorf("adopt: %w", err)
	}
	if ident.Service != r.cfg.Service {
		return nil, fmt.Errorf("adopt: instance of service %q, not %q: %w", ident.Service, r.cfg.Service, hsruntime.ErrNotFound)
	}
	if !alive(ident) {
		return nil, fmt.Errorf("adopt %s %s: pid %d started at tick %d is gone: %w",
			ident.Service, ident.Version, ident.Pid, ident.Start, hsruntime.ErrNotFound)
	}
	select {
	case <-r.closing:
		return nil, fmt.Errorf("adopt %s %s: runtime closed", ident.Service, ident.Version)
	default:
	}
	inst = newInstance(r, ident, false)
	r.wg.Add(1)
	go inst.watchAdopted()
	r.log.Info("instance adopted", "version", ident.Version, "pid", ident.Pid, "addr", ident.Addr)
	return inst, nil
}

// RunHook runs argv (placeholders substituted, {port} is 0) in Dir with the
// service's environment, in a process group of its own, streaming stdout
// and stderr to out. When ctx ends the whole group is killed; whatever the
// hook left running in its group is killed when it returns.
func (r *Runtime) RunHook(ctx context.Context, version string, argv []string, out io.Writer) error {
	if len(argv) == 0 || argv[0] == "" {
		return fmt.Errorf("hook for %s: empty command", version)
	}
	if out == nil {
		out = io.Discard
	}
	v := r.vars(version, 0, 0)
	args, dir := expand(argv, v), v.replacer().Replace(r.cfg.Dir)
	line := commandLine(args)
	path, err := resolve(args[0], dir)
	if err != nil {
		return fmt.Errorf("hook %s for %s: %w", line, version, err)
	}
	cmd := exec.CommandContext(ctx, path)
	cmd.Args = args
	cmd.Dir = dir
	cmd.Env = r.env(v, nil)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = hookWaitDelay
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers of the hook's group
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("hook %s for %s: killed: %w", line, version, ctx.Err())
	case cmd.ProcessState != nil:
		return fmt.Errorf("hook %s for %s failed: %s", line, version, exitOf(cmd.ProcessState, err))
	default:
		return fmt.Errorf("hook %s for %s: %w", line, version, err)
	}
}

func (r *Runtime) vars(version string, port int, release int64) vars {
	return vars{Port: port, Host: r.cfg.Host, Version: version, Service: r.cfg.Service, Release: release}
}

// env is the daemon's environment, then Config.Env (templated), then the
// start's extra env, then hotswap's own variables; later entries win.
func (r *Runtime) env(v vars, extra map[string]string) []string {
	rep := v.replacer()
	env := os.Environ()
	for _, k := range slices.Sorted(maps.Keys(r.cfg.Env)) {
		env = append(env, k+"="+rep.Replace(r.cfg.Env[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		env = append(env, k+"="+extra[k])
	}
	return append(env,
		"PORT="+strconv.Itoa(v.Port),
		"HOTSWAP_SERVICE="+v.Service,
		"HOTSWAP_VERSION="+v.Version,
		"HOTSWAP_RELEASE="+strconv.FormatInt(v.Release, 10),
	)
}

// resolve finds the executable the way exec does: a name with a slash is a
// path (relative to dir), a bare name is looked up in PATH. The result is
// absolute. Failure is ErrArtifactMissing with the path and the reason.
func resolve(name, dir string) (string, error) {
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			why := "not a directory"
			if err != nil {
				why = reason(err).Error()
			}
			return "", fmt.Errorf("%w: working directory %s: %s", hsruntime.ErrArtifactMissing, dir, why)
		}
	}
	p := name
	if strings.Contains(name, "/") && !filepath.IsAbs(name) && dir != "" {
		p = filepath.Join(dir, name)
	}
	found, err := exec.LookPath(p)
	if err != nil {
		return "", fmt.Errorf("%w: executable %s: %v", hsruntime.ErrArtifactMissing, p, reason(err))
	}
	abs, err := filepath.Abs(found)
	if err != nil {
		return "", fmt.Errorf("executable %s: %w", found, err)
	}
	return abs, nil
}

// reason strips the `exec: "name":` and `stat name:` prefixes from err,
// which would repeat the path the caller's message already names.
func reason(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		err = ee.Err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err
}

// freePort asks the kernel for a free port on host. Another process could
// take it before the app binds it; the app then fails to listen and the
// deploy's health check reports it.
func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// commandLine renders argv for people, quoting what a reader could misread.
func commandLine(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`") {
			a = strconv.Quote(a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileSafe makes s usable inside a file name.
func fileSafe(s string) string { return unsafeFileChars.ReplaceAllString(s, "_") }
