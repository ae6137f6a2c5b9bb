package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/hotswap/hotswap/internal/runtime"
)

// errRemoved is the Exit.Err of an instance whose watch ended because it
// was removed before the engine reported its exit.
var errRemoved = errors.New("container removed")

// instance is one container. Its watch goroutine owns done (the only one
// to close it); mu guards exit and exited, written once by the watch.
type instance struct {
	rt      *Runtime
	id      string
	version string
	addr    string

	cancel context.CancelFunc // ends the watch; called by Remove
	done   chan struct{}

	mu     sync.Mutex
	exit   runtime.Exit
	exited bool
}

var _ runtime.Instance = (*instance)(nil)

// newInstance starts the watch goroutine on wait, bound to ctx (cancelled
// by cancel, which Remove calls).
func (r *Runtime) newInstance(id, version, addr string, ctx context.Context, cancel context.CancelFunc, wait client.ContainerWaitResult) *instance {
	i := &instance{rt: r, id: id, version: version, addr: addr, cancel: cancel, done: make(chan struct{})}
	go i.watch(ctx, wait)
	return i
}

// stoppedInstance is an instance of a container that is not running: Done
// is closed and Exit says how it ended.
func (r *Runtime) stoppedInstance(id, version string, st *container.State) *instance {
	i := &instance{rt: r, id: id, version: version, cancel: func() {}, done: make(chan struct{})}
	i.setExit(exitFromState(st))
	close(i.done)
	return i
}

// ID is the container ID, which Adopt takes back.
func (i *instance) ID() string { return i.id }

// Version is the version label the container was created with.
func (i *instance) Version() string { return i.version }

// Addr is where the proxy dials the app (see the package doc); "" when the
// container was not running when this handle was made.
func (i *instance) Addr() string { return i.addr }

// Done is closed by the watch once the container has stopped.
func (i *instance) Done() <-chan struct{} { return i.done }

// String names the instance in errors and logs.
func (i *instance) String() string { return "container " + short(i.id) + " (" + i.version + ")" }

// Exit is how the container ended, from the engine's record.
func (i *instance) Exit() (runtime.Exit, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.exit, i.exited
}

func (i *instance) setExit(e runtime.Exit) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.exited {
		i.exit, i.exited = e, true
	}
}

// watch waits for the container to stop, records how, and closes done. If
// the wait breaks while the container still runs (the engine restarted),
// it waits again. Cancelling ctx (Remove) ends the wait: the client then
// delivers an error, or the exit if it raced, and watch always takes that
// one value so the client's goroutine can finish.
func (i *instance) watch(ctx context.Context, wait client.ContainerWaitResult) {
	defer close(i.done)
	backoff := 100 * time.Millisecond
	for {
		var err error
		select {
		case res := <-wait.Result:
			i.setExit(i.observe(ctx, int(res.StatusCode)))
			return
		case err = <-wait.Error:
		}
		if ctx.Err() != nil {
			i.setExit(runtime.Exit{Code: -1, At: time.Now(), Err: errRemoved})
			return
		}
		st, ierr := i.inspectState(ctx)
		switch {
		case cerrdefs.IsNotFound(ierr):
			i.setExit(runtime.Exit{Code: -1, At: time.Now(), Err: fmt.Errorf("container disappeared: %w", runtime.ErrNotFound)})
			return
		case ierr == nil && !st.Running:
			i.setExit(exitFromState(st))
			return
		}
		i.rt.log.Warn("lost the wait on a container; waiting again", "id", short(i.id), "err", err, "inspect_err", ierr)
		select {
		case <-ctx.Done():
			i.setExit(runtime.Exit{Code: -1, At: time.Now(), Err: errRemoved})
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
		wait = i.rt.cli.ContainerWait(ctx, i.id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	}
}

// releaseWait lets the client's goroutine behind a wait that nobody will
// read finish once its context is cancelled: the client delivers exactly
// one value, the exit on an unbuffered channel.
func releaseWait(w client.ContainerWaitResult) {
	go func() {
		select {
		case <-w.Result:
		case <-w.Error:
		}
	}()
}

// observe turns the engine's report of an exit into an Exit, with the OOM
// flag and time from the container's state when it can still be inspected.
func (i *instance) observe(ctx context.Context, code int) runtime.Exit {
	st, err := i.inspectState(ctx)
	if err != nil || st.Running {
		e := exitFromCode(code)
		e.At = time.Now()
		return e
	}
	return exitFromState(st)
}

func (i *instance) inspectState(ctx context.Context) (*container.State, error) {
	// Also after Remove cancelled ctx: a short bound of its own.
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	ins, err := i.rt.cli.ContainerInspect(ictx, i.id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, err
	}
	if ins.Container.State == nil {
		return nil, fmt.Errorf("container %s has no state", short(i.id))
	}
	return ins.Container.State, nil
}

// exitFromState reads the engine's record of a stopped container.
func exitFromState(st *container.State) runtime.Exit {
	if st == nil {
		return runtime.Exit{Code: -1, At: time.Now(), Err: errors.New("container state unknown")}
	}
	e := exitFromCode(st.ExitCode)
	e.OOMKilled = st.OOMKilled
	if st.Error != "" {
		e.Err = errors.New(st.Error)
	}
	e.At = time.Now()
	if t, err := time.Parse(time.RFC3339Nano, st.FinishedAt); err == nil && t.Year() > 1 {
		e.At = t
	}
	return e
}

// exitFromCode decodes the shell convention the engine follows: 128+n
// means "killed by signal n" (137 = SIGKILL, also what an OOM kill looks
// like). An app exiting with such a code itself is indistinguishable.
func exitFromCode(code int) runtime.Exit {
	if code > 128 && code < 128+65 {
		return runtime.Exit{Code: -1, Signal: unix.SignalName(syscall.Signal(code - 128))}
	}
	return runtime.Exit{Code: code}
}

// Logs returns the last n lines of the container's stdout and stderr.
func (i *instance) Logs(ctx context.Context, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	rc, err := i.rt.cli.ContainerLogs(ctx, i.id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n),
	})
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("logs of %s: %w", i, runtime.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", i, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return nil, fmt.Errorf("logs of %s: %w", i, err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil, nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}

// Stop sends the stop signal, lets the engine escalate to SIGKILL after the
// stop grace, and returns once the watch has recorded the exit. The
// container is kept for a later restart.
func (i *instance) Stop(ctx context.Context) error {
	timeout := i.rt.stopTimeout()
	_, err := i.rt.cli.ContainerStop(ctx, i.id, client.ContainerStopOptions{
		Signal: i.rt.cfg.StopSignal, Timeout: &timeout,
	})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop %s: %w", i, err)
	}
	select {
	case <-i.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: waiting for the exit: %w", i, ctx.Err())
	}
}

// Remove deletes the container (killing it if it runs) with its anonymous
// volumes, then ends the watch. Removing a removed instance is a no-op.
func (i *instance) Remove(ctx context.Context) error {
	_, err := i.rt.cli.ContainerRemove(ctx, i.id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", i, err)
	}
	i.cancel()
	select {
	case <-i.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("remove %s: %w", i, ctx.Err())
	}
}
