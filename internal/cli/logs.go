package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// followEvery is how often `logs -f` and `status --watch` ask again.
const followEvery = time.Second

func newLogsCmd(g *globals) *cobra.Command {
	var lines int
	var followLogs bool
	cmd := &cobra.Command{
		Use:   "logs SERVICE [VERSION]",
		Short: "The last output lines of the live version (or of VERSION, running or kept); -f follows",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ver := ""
			if len(args) == 2 {
				ver = args[1]
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fetch := func(ctx context.Context) ([]string, error) {
				l, err := c.Logs(ctx, args[0], ver, lines)
				if err != nil {
					return nil, unreachable(err)
				}
				return l.Lines, nil
			}
			if !followLogs {
				got, err := fetch(cmd.Context())
				for _, line := range got {
					fmt.Fprintln(w, line)
				}
				return err
			}
			ctx, stop := withInterrupt(cmd.Context())
			defer stop()
			return followLines(ctx, w, followEvery, fetch)
		},
	}
	cmd.Flags().IntVarP(&lines, "lines", "n", 100, "how many lines, newest last")
	cmd.Flags().BoolVarP(&followLogs, "follow", "f", false, "keep printing new lines (asks every second) until Ctrl-C")
	return cmd
}

// followLines prints fetch's lines, then every interval only the lines
// not printed yet: the new window's lines after its longest overlap with
// the previous window. When nothing overlaps (more than a window was
// written in between, or the file was rotated) it says lines may be
// missing. Ends without error when ctx ends.
func followLines(ctx context.Context, w io.Writer, every time.Duration, fetch func(context.Context) ([]string, error)) error {
	var prev []string
	for first := true; ; first = false {
		cur, err := fetch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		k := overlap(prev, cur)
		if !first && k == 0 && len(prev) > 0 && len(cur) > 0 {
			fmt.Fprintln(w, "… (earlier lines not shown: more output than one window, or the file was rotated)")
		}
		for _, line := range cur[k:] {
			fmt.Fprintln(w, line)
		}
		prev = cur
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// overlap is the largest k such that the last k lines of prev are the
// first k lines of cur.
func overlap(prev, cur []string) int {
	for k := min(len(prev), len(cur)); k > 0; k-- {
		if slices.Equal(prev[len(prev)-k:], cur[:k]) {
			return k
		}
	}
	return 0
}

// withInterrupt is ctx ended also by Ctrl-C or SIGTERM, for commands that
// run until stopped or that say something when interrupted.
func withInterrupt(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}
