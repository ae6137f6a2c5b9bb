package swarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/hotswap/hotswap/internal/runtime"
)

// errRemoved is the Exit.Err of an instance whose service was removed.
var errRemoved = errors.New("service removed")

// instance is one release service. Its watch goroutine (started once the
// service launched) owns done: it alone closes it, or waitLaunched does
// when the service is already over before any watch starts. mu guards the
// fields below it.
type instance struct {
	rt      *Runtime
	id      string
	version string

	// old are the tasks the service had before this instance scaled it up
	// again; read-only after construction.
	old map[string]bool

	ctx    context.Context // the watch's; cancelled by cancel
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	endpoints []string // running tasks' node:port, sorted
	addr      string   // the first endpoint ever seen, kept after stop
	exit      runtime.Exit
	exited    bool
}

var (
	_ runtime.Instance   = (*instance)(nil)
	_ runtime.Endpointer = (*instance)(nil)
)

func (r *Runtime) newInstance(id, version string) *instance {
	ctx, cancel := context.WithCancel(context.Background())
	return &instance{rt: r, id: id, version: version, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// ID, Version and Done implement runtime.Instance; the ID is the Swarm
// service ID, which Adopt takes.
func (i *instance) ID() string            { return i.id }
func (i *instance) Version() string       { return i.version }
func (i *instance) Done() <-chan struct{} { return i.done }

// Addr is one endpoint: the first one seen, so it stays stable while the
// instance runs and names where it was after it stopped.
func (i *instance) Addr() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.addr
}

// Endpoints are the addresses of the tasks running now.
func (i *instance) Endpoints() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Clone(i.endpoints)
}

// Exit implements runtime.Instance.
func (i *instance) Exit() (runtime.Exit, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.exit, i.exited
}

// view is one reading of the service's tasks.
type view struct {
	gone      bool        // the service no longer exists
	replicas  uint64      // desired replicas
	endpoints []string    // running tasks' addresses
	live      int         // tasks not in a terminal state
	last      *swarm.Task // the most recently updated terminal task
	lastNew   *swarm.Task // the same among tasks not in instance.old
	rejected  error       // a task not in instance.old that a node refused
	failed    error       // a task not in instance.old that ran and ended on its own
	summary   string      // the tasks' states, for error messages
}

func terminal(s swarm.TaskState) bool {
	switch s {
	case swarm.TaskStateComplete, swarm.TaskStateShutdown, swarm.TaskStateFailed,
		swarm.TaskStateRejected, swarm.TaskStateRemove, swarm.TaskStateOrphaned:
		return true
	}
	return false
}

// observe reads the service and its tasks from the manager.
func (i *instance) observe(ctx context.Context) (view, error) {
	var v view
	svc, err := i.rt.cli.ServiceInspect(ctx, i.id, client.ServiceInspectOptions{})
	if notFound(err) {
		v.gone = true
		return v, nil
	}
	if err != nil {
		return v, fmt.Errorf("inspect service %s: %w", i.id, err)
	}
	if rep := svc.Service.Spec.Mode.Replicated; rep != nil && rep.Replicas != nil {
		v.replicas = *rep.Replicas
	}
	tasks, err := i.rt.cli.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", i.id)})
	if err != nil {
		return v, fmt.Errorf("list tasks of %s: %w", i.id, err)
	}
	for _, t := range tasks.Items {
		// Tasks from before a scale to 0 and back say nothing about whether
		// the current ones ended.
		fresh := !i.old[t.ID]
		if !terminal(t.Status.State) {
			v.live++
		} else {
			if v.last == nil || t.Status.Timestamp.After(v.last.Status.Timestamp) {
				v.last = &t
			}
			if fresh && (v.lastNew == nil || t.Status.Timestamp.After(v.lastNew.Status.Timestamp)) {
				v.lastNew = &t
			}
		}
		v.summary += fmt.Sprintf("%s %s/%s %s; ", t.ID[:min(len(t.ID), 8)], t.Status.State, t.DesiredState, t.Status.Err)
		if fresh && t.Status.State == swarm.TaskStateRejected && v.rejected == nil {
			n, _ := i.rt.nodeOf(ctx, t.NodeID)
			v.rejected = rejection(n, t)
		}
		// "failed" is a non-zero exit the task made on its own (tasks we
		// scale down end "shutdown"). Unless Swarm is to restart it, the
		// instance is over: it is not healthy everywhere.
		if fresh && t.Status.State == swarm.TaskStateFailed && i.rt.cfg.RestartAttempts == 0 && v.failed == nil {
			n, _ := i.rt.nodeOf(ctx, t.NodeID)
			v.failed = taskExit(n, t)
		}
		if t.Status.State != swarm.TaskStateRunning || t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		for _, p := range t.Status.PortStatus.Ports {
			if p.TargetPort != uint32(i.rt.cfg.Port) || p.PublishedPort == 0 {
				continue
			}
			n, err := i.rt.nodeOf(ctx, t.NodeID)
			if err != nil {
				return v, err
			}
			v.endpoints = append(v.endpoints, n.addr+":"+strconv.Itoa(int(p.PublishedPort)))
		}
	}
	// A port published on IPv4 and IPv6 is listed twice.
	slices.Sort(v.endpoints)
	v.endpoints = slices.Compact(v.endpoints)
	return v, nil
}

// rejection is the error of a task a node refused to run.
func rejection(n node, t swarm.Task) error {
	where := n.hostname
	if where == "" {
		where = t.NodeID
	}
	msg := t.Status.Err
	if msg == "" {
		msg = t.Status.Message
	}
	if strings.Contains(msg, "No such image") {
		return fmt.Errorf("node %s rejected the task: %s: %w", where, msg, runtime.ErrArtifactMissing)
	}
	return fmt.Errorf("node %s rejected the task: %s", where, msg)
}

// taskExit is the error of a task that ended on its own on node n.
func taskExit(n node, t swarm.Task) error {
	where := n.hostname
	if where == "" {
		where = t.NodeID
	}
	code := -1
	if cs := t.Status.ContainerStatus; cs != nil {
		code = cs.ExitCode
	}
	return fmt.Errorf("task on node %s ended: exit code %d (%s)", where, code, t.Status.Err)
}

// over reports whether v shows an instance that has stopped for good: the
// service is gone, scaled to 0 with nothing left running, or every task
// ended and Swarm starts no other (restart attempts spent).
func (v view) over() bool {
	return v.gone || (v.live == 0 && (v.replicas == 0 || v.lastNew != nil)) || v.failed != nil
}

// exitOf describes how v ended.
func exitOf(v view) runtime.Exit {
	if v.gone {
		return runtime.Exit{Code: -1, At: time.Now(), Err: errRemoved}
	}
	if v.failed != nil && v.live > 0 {
		// Healthy somewhere, crashed somewhere else: not this version.
		return runtime.Exit{Code: -1, At: time.Now(), Err: v.failed}
	}
	e := runtime.Exit{Code: -1, At: time.Now()}
	t := v.lastNew
	if v.replicas == 0 {
		t = v.last
	}
	if t != nil {
		e.At = t.Status.Timestamp
		if cs := t.Status.ContainerStatus; cs != nil {
			e.Code = cs.ExitCode
		}
		if t.Status.State == swarm.TaskStateRejected {
			e.Err = errors.New(t.Status.Err)
		}
	}
	return e
}

// apply records v; when v shows the end, it sets the exit and closes done
// (once) and returns true.
func (i *instance) apply(v view) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.exited {
		return true
	}
	i.endpoints = v.endpoints
	if i.addr == "" && len(v.endpoints) > 0 {
		i.addr = v.endpoints[0]
	}
	if !v.over() {
		return false
	}
	i.endpoints = nil
	i.exit, i.exited = exitOf(v), true
	close(i.done)
	return true
}

// waitLaunched polls until every replica runs with its port known (then
// starts the watch) or the service is over (Done closed, no watch). A
// rejected task is an error.
func (i *instance) waitLaunched(ctx context.Context) error {
	for {
		v, err := i.observe(ctx)
		if err != nil {
			return err
		}
		if v.gone {
			return fmt.Errorf("service %s: %w", i.id, runtime.ErrNotFound)
		}
		if v.rejected != nil {
			return v.rejected
		}
		// Some tasks run and one ended: the version is not healthy
		// everywhere. (All of them ending is an instance that crashed,
		// reported through Done and Exit.)
		if v.failed != nil && v.live > 0 {
			return v.failed
		}
		if i.apply(v) {
			return nil
		}
		if v.replicas > 0 && uint64(len(v.endpoints)) >= v.replicas {
			go i.watch()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %s: %d of %d tasks running (%s): %w", i.id, len(v.endpoints), v.replicas, v.summary, ctx.Err())
		case <-time.After(i.rt.cfg.PollInterval):
		}
	}
}

// watch follows the tasks until the instance is over or cancel is called.
// A failed reading is retried at the next tick: the manager being briefly
// away is not the app stopping.
func (i *instance) watch() {
	t := time.NewTicker(i.rt.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-i.ctx.Done():
			return
		case <-t.C:
		}
		v, err := i.observe(i.ctx)
		if err != nil {
			if i.ctx.Err() == nil {
				i.rt.log.Warn("read tasks", "id", i.id, "err", err)
			}
			continue
		}
		if i.apply(v) {
			return
		}
	}
}

// scale sets the service's replica count, retrying when another writer
// updated the service in between.
func (i *instance) scale(ctx context.Context, n uint64) error {
	var err error
	for try := 0; try < 5; try++ {
		var res client.ServiceInspectResult
		res, err = i.rt.cli.ServiceInspect(ctx, i.id, client.ServiceInspectOptions{})
		if err != nil {
			return fmt.Errorf("scale %s: %w", i.id, err)
		}
		spec := res.Service.Spec
		if spec.Mode.Replicated == nil {
			return fmt.Errorf("scale %s: not a replicated service", i.id)
		}
		spec.Mode.Replicated.Replicas = &n
		_, err = i.rt.cli.ServiceUpdate(ctx, i.id, client.ServiceUpdateOptions{Version: res.Service.Version, Spec: spec})
		if err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "out of sequence") {
			break
		}
	}
	return fmt.Errorf("scale %s to %d: %w", i.id, n, err)
}

// Stop scales the service to 0 (its tasks get the stop signal, then SIGKILL
// after the stop grace) and returns once they have all ended. The service
// stays, so Start of the same version scales it up again without a pull.
func (i *instance) Stop(ctx context.Context) error {
	if runtime.Stopped(i) {
		return nil
	}
	if err := i.scale(ctx, 0); err != nil && !notFound(err) {
		return err
	}
	if err := i.awaitOver(ctx); err != nil {
		return err
	}
	return i.awaitPurged(ctx)
}

// awaitPurged waits until Swarm has deleted the tasks it is removing.
// Scaling up while a slot still holds a task marked for removal leaves the
// service with no task at all until some later event (seen with Engine
// 20.10), so Stop leaves only once they are gone and scale-up checks too.
func (i *instance) awaitPurged(ctx context.Context) error {
	for {
		tasks, err := i.rt.cli.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).
			Add("service", i.id).Add("desired-state", string(swarm.TaskStateRemove))})
		if notFound(err) || err == nil && len(tasks.Items) == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tasks of %s: %w", i.id, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %d stopped tasks to be removed: %w", i.id, len(tasks.Items), ctx.Err())
		case <-time.After(i.rt.cfg.PollInterval):
		}
	}
}

// awaitOver waits until Done is closed, reading the tasks itself when no
// watch runs.
func (i *instance) awaitOver(ctx context.Context) error {
	for {
		v, err := i.observe(ctx)
		if err == nil && i.apply(v) {
			return nil
		}
		select {
		case <-i.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("stop %s: %w", i.id, ctx.Err())
		case <-time.After(i.rt.cfg.PollInterval):
		}
	}
}

// Remove deletes the service and returns once none of its tasks runs,
// except on nodes Swarm reports down: those tasks cannot report their end,
// and Swarm removes them when the node comes back.
func (i *instance) Remove(ctx context.Context) error {
	// The task list cannot be filtered by a service that no longer exists:
	// note the tasks first, then follow them one by one.
	tasks, err := i.rt.cli.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", i.id)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("remove %s: %w", i.id, err)
	}
	if _, err := i.rt.cli.ServiceRemove(ctx, i.id, client.ServiceRemoveOptions{}); err != nil && !notFound(err) {
		return fmt.Errorf("remove %s: %w", i.id, err)
	}
	for _, t := range tasks.Items {
		for !terminal(t.Status.State) && i.rt.nodeUp(ctx, t.NodeID) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("remove %s: waiting for task %s to end: %w", i.id, t.ID, ctx.Err())
			case <-time.After(i.rt.cfg.PollInterval):
			}
			res, err := i.rt.cli.TaskInspect(ctx, t.ID, client.TaskInspectOptions{})
			if notFound(err) {
				break
			}
			if err != nil {
				return fmt.Errorf("remove %s: %w", i.id, err)
			}
			t = res.Task
		}
	}
	i.apply(view{gone: true})
	i.cancel()
	return nil
}

// Logs returns the last n lines the service's tasks wrote.
func (i *instance) Logs(ctx context.Context, n int) ([]string, error) {
	rc, err := i.rt.cli.ServiceLogs(ctx, i.id, client.ServiceLogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n),
	})
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", i.id, err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		return nil, fmt.Errorf("logs of %s: %w", i.id, err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil, nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}
