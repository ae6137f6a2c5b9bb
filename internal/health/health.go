// Package health decides whether an instance of an app is fit for traffic.
//
// WaitHealthy gates a new instance: it probes the instance until it passes
// a number of consecutive checks, and fails with a typed error the engine
// can explain to the user when the instance exits, never opens its port,
// or answers but never healthily before a deadline. Watch keeps probing a
// live instance and reports when it turns unhealthy (or healthy again),
// with the same threshold applied in both directions so one slow answer
// does not flip it.
//
// Probes are HTTP GETs (2xx and 3xx pass; redirects are not followed) or,
// when no path is set, plain TCP connects. Each probe uses a fresh
// connection and ignores proxy environment variables: the question is
// whether this instance, on this address, answers now.
package health

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Check says how to probe an instance and when to call it healthy.
type Check struct {
	// Path is requested with GET ("/health"); "" means a TCP connect only.
	Path string
	// Host, when set, is sent as the Host header (apps that route by host);
	// default: the address probed.
	Host string
	// Interval is the time between probe starts. Probes never overlap: a
	// probe slower than Interval delays the next one.
	Interval time.Duration
	// StartInterval, when set, replaces Interval in WaitHealthy once the
	// port has opened: a new version is judged quickly, while Watch keeps
	// the calmer Interval for a serving one. Until the port opens,
	// WaitHealthy polls every openPoll (or StartInterval if shorter): a
	// refused connection costs nothing, and an app that has just started
	// listening should not wait out a whole interval.
	StartInterval time.Duration
	// StartTimeout, when set, bounds the wait for the port to open:
	// an app that never listens fails then rather than at Deadline.
	StartTimeout time.Duration
	// Timeout bounds each probe.
	Timeout time.Duration
	// HealthyThreshold is how many consecutive passes make an instance
	// healthy. Any failure starts the count again.
	HealthyThreshold int
	// UnhealthyThreshold is how many consecutive failures make a watched
	// instance unhealthy (Watch only); 0 means HealthyThreshold.
	UnhealthyThreshold int
	// Deadline bounds WaitHealthy as a whole.
	Deadline time.Duration
}

// Describe names what is probed, for progress messages: "GET /health"
// or "TCP connect".
func (c Check) Describe() string {
	if c.Path == "" {
		return "TCP connect"
	}
	return "GET " + c.Path
}

func (c Check) validate(needDeadline bool) error {
	var errs []string
	if c.Interval <= 0 {
		errs = append(errs, "interval must be positive")
	}
	if c.Timeout <= 0 {
		errs = append(errs, "timeout must be positive")
	}
	if c.HealthyThreshold < 1 {
		errs = append(errs, "healthy threshold must be at least 1")
	}
	if c.UnhealthyThreshold < 0 {
		errs = append(errs, "unhealthy threshold must not be negative")
	}
	if needDeadline && c.Deadline <= 0 {
		errs = append(errs, "deadline must be positive")
	}
	if c.StartInterval < 0 || c.StartTimeout < 0 {
		errs = append(errs, "start interval and start timeout must not be negative")
	}
	if c.Path != "" && !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, fmt.Sprintf("path %q must start with /", c.Path))
	}
	if len(errs) > 0 {
		return fmt.Errorf("health check: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Probe is the result of one check, reported as it happens so the CLI can
// stream progress ("probe 4: GET /health 503 in 3ms").
type Probe struct {
	OK      bool          // the probe passed
	Status  int           // HTTP status; 0 for TCP checks or when nothing answered
	Err     error         // why it failed; nil when OK
	Latency time.Duration // how long the probe took
	Streak  int           // consecutive passes so far, this probe included
}

// String renders the probe for a progress line: "passed: 200 in 3ms",
// "GET /health: 503 Service Unavailable (in 3ms)".
func (p Probe) String() string {
	lat := p.Latency.Round(time.Microsecond)
	switch {
	case !p.OK:
		return fmt.Sprintf("%v (in %s)", p.Err, lat)
	case p.Status != 0:
		return fmt.Sprintf("passed: %d in %s", p.Status, lat)
	}
	return fmt.Sprintf("passed: TCP connect in %s", lat)
}

// Errors WaitHealthy returns, for the engine to branch on (errors.Is).
var (
	// ErrDeadline: the instance did not become healthy in time. The error
	// is a *DeadlineError carrying the detail.
	ErrDeadline = errors.New("not healthy before the deadline")
	// ErrPortNeverOpened: the deadline passed and nothing ever accepted a
	// connection on the address: the app is not listening there (wrong
	// port, still booting, listening on another interface). Such errors
	// also match ErrDeadline.
	ErrPortNeverOpened = errors.New("port never opened")
	// ErrExited: the instance stopped while being checked.
	ErrExited = errors.New("instance exited during health check")
)

// DeadlineError is what WaitHealthy returns when the deadline passes. It
// matches ErrDeadline, and ErrPortNeverOpened when Opened is false.
type DeadlineError struct {
	Addr     string        // the address probed
	Deadline time.Duration // the limit that passed
	Probes   int           // probes made
	Streak   int           // consecutive passes at the end
	Needed   int           // consecutive passes required
	Opened   bool          // the port accepted at least one connection
	Last     error         // the last failure, nil if none
}

func (e *DeadlineError) Error() string {
	last := "no probe finished"
	if e.Last != nil {
		last = e.Last.Error()
	}
	if !e.Opened {
		return fmt.Sprintf("%v: nothing accepted connections on %s within %s (%d attempts; last: %s)",
			ErrPortNeverOpened, e.Addr, e.Deadline, e.Probes, last)
	}
	return fmt.Sprintf("%v: %s not healthy within %s: %d of %d consecutive passes; last failure: %s (%d probes)",
		ErrDeadline, e.Addr, e.Deadline, e.Streak, e.Needed, last, e.Probes)
}

// Is matches ErrDeadline always and ErrPortNeverOpened when nothing ever
// accepted a connection.
func (e *DeadlineError) Is(target error) bool {
	return target == ErrDeadline || (target == ErrPortNeverOpened && !e.Opened)
}

// Unwrap exposes the last failure (say, syscall.ECONNREFUSED).
func (e *DeadlineError) Unwrap() error { return e.Last }
