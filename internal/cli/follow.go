package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hotswap/hotswap/internal/api"
)

// follow streams a release's steps as they happen, each with its duration,
// and turns the outcome into the command's result.
func follow(ctx context.Context, c *api.Client, w io.Writer, id int64, quiet bool) (api.Release, error) {
	rel, err := followSteps(ctx, c, w, id, quiet)
	if err != nil {
		return rel, err
	}
	if quiet {
		w = io.Discard
	}
	return rel, outcome(w, rel)
}

// followSteps streams a release's steps until it ends, and returns it.
func followSteps(ctx context.Context, c *api.Client, w io.Writer, id int64, quiet bool) (api.Release, error) {
	start := time.Now()
	rel, err := c.Follow(ctx, id, func(e api.Event) {
		if quiet {
			return
		}
		took := ""
		if e.DurationMS > 0 {
			took = " (" + fmtMS(e.DurationMS) + ")"
		}
		mark := " "
		switch e.Level {
		case "warn":
			mark = "!"
		case "error":
			mark = "✗"
		}
		msg := strings.ReplaceAll(e.Message, "\n", "\n               ")
		fmt.Fprintf(w, "%s %7s  %-8s %s%s\n", mark, fmtDur(time.Since(start)), e.Step, msg, took)
	})
	if err != nil {
		return rel, unreachable(err)
	}
	return rel, nil
}

// outcome prints the final line and maps the release's end state to an error.
func outcome(w io.Writer, r api.Release) error {
	took := fmtDur(time.Duration(r.DurationMS) * time.Millisecond)
	switch r.State {
	case "live":
		fmt.Fprintf(w, "✓ %s %s is live (%s %s, release #%d)\n", r.Service, r.Version, r.Kind, took, r.ID)
		return nil
	case "queued", "deploying":
		fmt.Fprintf(w, "… %s %s is %s (release #%d)\n", r.Service, r.Version, r.State, r.ID)
		return nil
	}
	fmt.Fprintf(w, "✗ %s %s %s: %s after %s (release #%d); the live version keeps serving\n", r.Kind, r.Service, r.Version, r.State, took, r.ID)
	if r.Error != "" {
		fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(r.Error, "\n", "\n  "))
	}
	return withCode(ExitFailed, errQuiet)
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func fmtMS(ms float64) string { return fmtDur(time.Duration(ms * float64(time.Millisecond))) }
