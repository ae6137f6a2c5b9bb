// Package runtime is the one contract between the deploy engine and the
// things that actually run an application version: a local process or a
// Docker container. The engine never knows which one it drives; a runtime
// never knows about the proxy, health checks or release history.
//
// A Runtime value is bound to one service (its command template or image,
// env, limits…), so the engine only ever says "start version X of this
// service". Anything a runtime needs to find its own instances again after a
// daemon restart travels through Instance.ID, which the engine stores.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors callers branch on. Implementations wrap them with context.
var (
	// ErrNotFound: the instance or artifact does not exist (any more).
	ErrNotFound = errors.New("not found")
	// ErrArtifactMissing: the version cannot be started because what it
	// needs (an image) is neither present nor obtainable. Nothing changed.
	ErrArtifactMissing = errors.New("artifact missing")
	// ErrExited: the instance stopped on its own.
	ErrExited = errors.New("instance exited")
)

// Spec is what the engine asks a runtime to start: one version of the
// runtime's service. Everything service-wide (command, image, env, limits)
// was given to the runtime when it was built from config.
type Spec struct {
	// Version is the already-validated version string (a tag for Docker).
	Version string
	// ReleaseID identifies the release this instance belongs to; runtimes
	// record it (Docker label, process env HOTSWAP_RELEASE) for forensics.
	ReleaseID int64
	// Env is extra environment for this start, on top of the service's.
	Env map[string]string
}

// Artifact is what Prepare found for a version: proof that it can start.
type Artifact struct {
	// Ref is the human reference ("ghcr.io/acme/web:v2", or the command line).
	Ref string
	// Digest is the content digest where one exists (images), else "".
	Digest string
}

// Exit describes why an instance stopped; the engine shows it to the user
// when a new version fails.
type Exit struct {
	Code      int       // process exit code; -1 when killed by a signal or unknown
	Signal    string    // signal name when killed by one, else ""
	OOMKilled bool      // the kernel's OOM killer ended it (Docker reports this)
	At        time.Time // when it was observed
	Err       error     // a runtime-side failure (could not wait, inspect…), else nil
}

func (e Exit) String() string {
	s := fmt.Sprintf("exit code %d", e.Code)
	if e.Signal != "" {
		s += " (signal " + e.Signal + ")"
	}
	if e.OOMKilled {
		s += " (OOM-killed)"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Instance is one running (or stopped, restartable) copy of one version.
type Instance interface {
	// ID is stable across daemon restarts: Adopt(ID) finds it again.
	ID() string
	// Version is the version this instance runs.
	Version() string
	// Addr is the host:port the proxy dials to reach the app.
	Addr() string
	// Done is closed once the instance has stopped, for whatever reason.
	Done() <-chan struct{}
	// Exit reports how it stopped; ok is false while it still runs.
	Exit() (e Exit, ok bool)
	// Logs returns up to n of the most recent output lines (stdout+stderr).
	Logs(ctx context.Context, n int) ([]string, error)
	// Stop asks the app to end (the service's stop signal), waits up to the
	// service's stop grace, then kills it. It returns once the instance is
	// stopped. What is stopped may be started again by Runtime.Start with the
	// same version (Docker keeps the container); Remove deletes it for good.
	Stop(ctx context.Context) error
	// Remove stops the instance if needed and frees everything it holds.
	Remove(ctx context.Context) error
}

// Endpointer is implemented by instances that serve from several
// addresses at once (a Swarm service: one address per running task, on the
// node that runs it). Endpoints returns every address that currently
// serves, sorted, possibly empty while none does; Addr stays one of them
// (or the last one known) so callers that want one address still work.
// Callers type-assert for it; runtimes with one address per instance do not
// implement it.
type Endpointer interface {
	Endpoints() []string
}

// Runtime starts and finds instances of one service.
type Runtime interface {
	// Prepare checks, before anything changes, that version can be started,
	// fetching what it needs (an image pull) and reporting progress to out.
	// It returns ErrArtifactMissing (wrapped, with the exact reference and
	// why) when it cannot.
	Prepare(ctx context.Context, version string, out io.Writer) (Artifact, error)
	// Start starts spec.Version and returns once the instance is launched
	// (not necessarily listening). A stopped instance of the same version
	// may be reused. If launching fails, nothing is left behind.
	Start(ctx context.Context, spec Spec) (Instance, error)
	// Adopt re-attaches to an instance by ID after a daemon restart. It
	// returns ErrNotFound (wrapped) when the instance is gone, and an
	// Instance whose Done is already closed when it exists but is stopped.
	Adopt(ctx context.Context, id string) (Instance, error)
	// List returns the IDs of every instance of this service the runtime can
	// discover on its own (Docker: by label and owner; processes: by their
	// record files, running ones only), without the engine's database.
	// Runtimes that cannot discover instances return nil.
	List(ctx context.Context) ([]string, error)
	// RunHook runs argv to completion in a one-off instance of version (a
	// migration), with the service's env, streaming output to out. A non-zero
	// exit is an error that says the code; ctx bounds it.
	RunHook(ctx context.Context, version string, argv []string, out io.Writer) error
}

// Stopped reports, without waiting, whether inst has stopped: the check the
// engine makes before relying on an adopted or warm instance.
func Stopped(inst Instance) bool {
	select {
	case <-inst.Done():
		return true
	default:
		return false
	}
}
