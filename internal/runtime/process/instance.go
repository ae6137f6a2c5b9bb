package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	hsruntime "github.com/hotswap/hotswap/internal/runtime"
)

// adoptedPoll is how often an adopted process (not our child, so there is
// nothing to wait on) is looked up in /proc to notice that it ended.
const adoptedPoll = 100 * time.Millisecond

// instance is one app process and its process group (pgid == pid, because
// it is started with Setpgid).
type instance struct {
	rt    *Runtime
	id    string
	ident identity
	child bool // started by this Runtime value: its exit status is known

	// done is closed exactly once, by the goroutine that watches the
	// process (watchChild or watchAdopted), after exit is set.
	done chan struct{}

	mu     sync.Mutex // guards exit and exited
	exit   hsruntime.Exit
	exited bool
}

var _ hsruntime.Instance = (*instance)(nil)

func newInstance(rt *Runtime, ident identity, child bool) *instance {
	return &instance{rt: rt, id: ident.encode(), ident: ident, child: child, done: make(chan struct{})}
}

func (i *instance) ID() string            { return i.id }
func (i *instance) Version() string       { return i.ident.Version }
func (i *instance) Addr() string          { return i.ident.Addr }
func (i *instance) Done() <-chan struct{} { return i.done }
func (i *instance) String() string {
	return fmt.Sprintf("%s %s (pid %d)", i.ident.Service, i.ident.Version, i.ident.Pid)
}

// Exit reports how the process ended. For an adopted process that is not
// our child the kernel does not tell us: Code is -1.
func (i *instance) Exit() (hsruntime.Exit, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.exit, i.exited
}

// finish records the exit and closes done; only the watcher calls it.
func (i *instance) finish(e hsruntime.Exit) {
	i.mu.Lock()
	i.exit, i.exited = e, true
	i.mu.Unlock()
	close(i.done)
	i.rt.log.Info("instance exited", "version", i.ident.Version,
		"pid", i.ident.Pid, "exit", e.String())
}

// watchChild reaps our own child and records its real exit status.
func (i *instance) watchChild(cmd *exec.Cmd) {
	err := cmd.Wait()
	i.rt.forget(i.id)
	i.finish(exitOf(cmd.ProcessState, err))
}

// watchAdopted polls /proc until the adopted process is gone (or a
// zombie), or the Runtime is closed.
func (i *instance) watchAdopted() {
	defer i.rt.wg.Done()
	tick := time.NewTicker(adoptedPoll)
	defer tick.Stop()
	for alive(i.ident) {
		select {
		case <-tick.C:
		case <-i.rt.closing:
			return
		}
	}
	i.finish(hsruntime.Exit{Code: -1, At: time.Now()})
}

// exitOf turns what Wait learnt into an Exit.
func exitOf(ps *os.ProcessState, err error) hsruntime.Exit {
	e := hsruntime.Exit{Code: -1, At: time.Now()}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		e.Err = fmt.Errorf("wait: %w", err)
	}
	if ps == nil {
		return e
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = unix.SignalName(ws.Signal())
		return e
	}
	e.Code = ps.ExitCode()
	return e
}

// Stop sends the stop signal to the process group, waits until the app and
// every member of its group are gone or StopGrace passes, then kills the
// group. If ctx ends first the group is killed and ctx's error returned.
//
// The group is signalled by pgid only while this Stop runs, right after the
// leader was seen alive: the kernel does not reuse a pid that is still some
// group's id, so the signal cannot reach an unrelated process.
func (i *instance) Stop(ctx context.Context) error {
	if isClosed(i.done) {
		return nil
	}
	if !i.child && isClosed(i.rt.closing) {
		// Its watcher is gone, so Done would never close.
		return fmt.Errorf("stop %s: runtime closed", i)
	}
	if !i.child && !alive(i.ident) {
		return i.waitDone(ctx) // already gone; the poller will notice
	}
	grace := time.NewTimer(i.rt.cfg.StopGrace)
	defer grace.Stop()
	if err := i.signal(i.rt.cfg.StopSignal); err != nil {
		return fmt.Errorf("stop %s: %w", i, err)
	}
	if i.waitGone(ctx, grace.C) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		_ = i.signal(syscall.SIGKILL)
		return fmt.Errorf("stop %s: killed: %w", i, err)
	}
	i.rt.log.Warn("instance still running after stop grace; killing its process group",
		"version", i.ident.Version, "pid", i.ident.Pid,
		"grace", i.rt.cfg.StopGrace)
	if err := i.signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("stop %s: %w", i, err)
	}
	return i.waitDone(ctx)
}

// waitGone waits until the leader has ended and its group is empty; false
// when grace or ctx ends first.
func (i *instance) waitGone(ctx context.Context, grace <-chan time.Time) bool {
	select {
	case <-i.done:
	case <-grace:
		return false
	case <-ctx.Done():
		return false
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for groupRunning(i.ident.Pid) {
		select {
		case <-tick.C:
		case <-grace:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func (i *instance) waitDone(ctx context.Context) error {
	select {
	case <-i.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", i, ctx.Err())
	}
}

// signal sends sig to the instance's process group; a group that no longer
// exists is not an error.
func (i *instance) signal(sig syscall.Signal) error {
	err := syscall.Kill(-i.ident.Pid, sig)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s to process group %d: %w", unix.SignalName(sig), i.ident.Pid, err)
	}
	return nil
}

// Remove stops the process and deletes its output file: a process leaves
// nothing else behind, and a later Start of the same version starts anew.
func (i *instance) Remove(ctx context.Context) error {
	if err := i.Stop(ctx); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	if err := os.Remove(i.ident.Log); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: delete output: %w", i, err)
	}
	if err := removeRecord(i.ident.Log); err != nil {
		return fmt.Errorf("remove %s: delete record: %w", i, err)
	}
	for n := 1; n <= i.rt.cfg.LogKeep; n++ { // rotated copies
		_ = os.Remove(i.ident.Log + "." + strconv.Itoa(n))
	}
	return nil
}

// Logs returns the last n lines of the instance's output file.
func (i *instance) Logs(ctx context.Context, n int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("logs of %s: %w", i, err)
	}
	lines, err := tailLines(i.ident.Log, n)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("logs of %s: %w: %w", i, hsruntime.ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", i, err)
	}
	return lines, nil
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
