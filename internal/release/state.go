package release

import "fmt"

// State is where one release (one deploy or rollback action) is in its
// life. It is stored as its string value, so the constants below are part
// of the on-disk format: never rename one, only add.
type State string

const (
	// Queued: accepted and waiting for the service's deploy lock; nothing
	// has been started yet, so it can still be superseded or aborted for free.
	Queued State = "queued"
	// Deploying: the engine owns it and is starting instances, health
	// checking and switching traffic.
	Deploying State = "deploying"
	// Live: this release's instance is the one the proxy routes the
	// service's traffic to. At most one release per service is Live; the
	// store enforces it with a unique index.
	Live State = "live"
	// Warm: it was Live and has been replaced, but its instance is still
	// running so a rollback can flip traffic back instantly.
	Warm State = "warm"
	// Retired: it was Live or Warm and its instance has been stopped. A
	// rollback to it needs a new release that starts a new instance.
	Retired State = "retired"
	// Failed: the deploy did not reach Live (start error, crash, failed
	// health checks, hook error). Error says why.
	Failed State = "failed"
	// Aborted: stopped on purpose before reaching Live, by an operator or
	// by an automatic check (issue 5: Analysis holds the numbers).
	Aborted State = "aborted"
	// Superseded: still Queued when a newer version of the same service was
	// queued behind it, so it was skipped without ever starting.
	Superseded State = "superseded"
	// RolledBack: it was Live (or Warm) and was replaced by a rollback or an
	// automatic abort, so it is known bad; "rollback to previous" skips it.
	RolledBack State = "rolled_back"
)

// States lists every state in life-cycle order, for validation, CLI help
// and exhaustive tests.
var States = []State{Queued, Deploying, Live, Warm, Retired, Failed, Aborted, Superseded, RolledBack}

// transitions is the whole state machine: from -> set of legal targets.
// A state missing from the map (or mapping to nothing) is terminal.
// Read-only after init; safe for concurrent use.
var transitions = map[State]map[State]bool{
	Queued: {Deploying: true, Superseded: true, Aborted: true},
	// Deploying -> RolledBack: a canary that took part of the traffic and
	// was sent back by analysis.
	Deploying: {Live: true, Failed: true, Aborted: true, RolledBack: true},
	// Live -> Retired directly is for strategies that keep no warm copy
	// (recreate, or keep_warm disabled).
	Live: {Warm: true, Retired: true, RolledBack: true},
	// Warm -> Live is an in-place rollback that flips back to the running
	// instance without creating a new release row.
	Warm: {Live: true, Retired: true, RolledBack: true},
}

// Valid reports whether a release may move from one state to another.
// Staying in the same state is not a transition and is not Valid; callers
// that only change other fields do not ask.
func Valid(from, to State) bool {
	return transitions[from][to]
}

// Known reports whether s is one of the defined states, so values read from
// requests or old databases can be checked before use.
func (s State) Known() bool {
	for _, k := range States {
		if s == k {
			return true
		}
	}
	return false
}

// Terminal reports whether no transition leaves s: the row is finished and
// will not change state again.
func (s State) Terminal() bool {
	return len(transitions[s]) == 0
}

// ReachedLive reports whether a release in state s must have been Live at
// some point, which is what makes it a rollback target.
func (s State) ReachedLive() bool {
	switch s {
	case Live, Warm, Retired, RolledBack:
		return true
	}
	return false
}

// String returns the stored name, so states print the same in logs, the
// CLI and the database.
func (s State) String() string { return string(s) }

// TransitionError is returned (wrapped) when an update would move a release
// along an edge the state machine does not have. It unwraps to ErrConflict
// so the API maps it to 409 with every other conflict.
type TransitionError struct {
	ID       int64
	From, To State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("release %d: illegal state transition %s -> %s", e.ID, e.From, e.To)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *TransitionError) Unwrap() error { return ErrConflict }

// Ended reports whether a release in state s has finished its action: it
// went live, or stopped short (failed, aborted, superseded, rolled back).
// The store backs itself up when a release ends.
func (s State) Ended() bool {
	switch s {
	case Live, Failed, Aborted, Superseded, RolledBack:
		return true
	}
	return false
}
