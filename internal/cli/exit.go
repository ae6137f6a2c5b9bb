package cli

import (
	"errors"
	"fmt"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/daemon"
	"github.com/hotswap/hotswap/internal/release"
	"github.com/hotswap/hotswap/internal/statedir"
	"github.com/hotswap/hotswap/internal/version"
)

// Exit codes are part of the CLI's contract with scripts and CI; they are
// mapped from errors here and nowhere else.
const (
	ExitOK           = 0 // done
	ExitFailed       = 1 // the deploy or rollback ran and failed (unhealthy, exited, hook failed…); nothing changed
	ExitUsage        = 2 // bad flags, bad version, bad config: refused before anything changed
	ExitBusy         = 3 // another deploy of this service is running
	ExitNotFound     = 4 // unknown service, release, or a version never deployed
	ExitUnreachable  = 5 // the daemon cannot be reached
	ExitUnauthorized = 6 // missing or wrong token
	ExitConflict     = 7 // the state does not allow it (already live, nothing to promote)
	// ExitState: the state directory needs the operator before a daemon
	// can run on it: another daemon holds it, or its database is corrupt or
	// missing while its apps still run. The message names what to do.
	ExitState    = 8
	ExitInternal = 10 // anything else: a bug or an unexpected failure; the message says what
	// ExitInterrupted: Ctrl-C (or SIGTERM) while deploy/rollback followed a
	// release; the release goes on in the daemon (the message says how to
	// follow or abort it). 130 is the shell's code for SIGINT.
	ExitInterrupted = 130
)

// exitError carries an exit code through cobra to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// errQuiet is returned when the command already printed why it failed.
var errQuiet = errors.New("")

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case api.CodeInvalid:
			return ExitUsage
		case api.CodeNotFound:
			return ExitNotFound
		case api.CodeBusy:
			return ExitBusy
		case api.CodeConflict:
			return ExitConflict
		case api.CodeUnauthorized, api.CodeForbidden, api.CodeRateLimited:
			return ExitUnauthorized
		case api.CodeUnavailable:
			return ExitUnreachable
		}
		return ExitInternal
	}
	if errors.Is(err, statedir.ErrLocked) || errors.Is(err, daemon.ErrStateNeedsOperator) || errors.Is(err, release.ErrCorrupt) {
		return ExitState
	}
	var ce config.Errors
	var ce1 *config.Error
	if errors.As(err, &ce) || errors.As(err, &ce1) || errors.Is(err, version.ErrInvalid) {
		return ExitUsage
	}
	if errors.Is(err, errUnreachable) {
		return ExitUnreachable
	}
	return ExitInternal
}

var errUnreachable = errors.New("daemon unreachable")

func usageErr(format string, a ...any) error { return withCode(ExitUsage, fmt.Errorf(format, a...)) }
