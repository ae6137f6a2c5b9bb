package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hotswap/hotswap/internal/api"
)

type rollbackOptions struct {
	note            string
	detach, jsonOut bool
	pick            bool
}

func newRollbackCmd(g *globals) *cobra.Command {
	var o rollbackOptions
	cmd := &cobra.Command{
		Use:   "rollback SERVICE [VERSION]",
		Short: "Put an earlier version back: instant while it is warm, a restart (no rebuild) otherwise",
		Long: `Rollback puts VERSION (any version that was live before) back in service. While
the previous version is still warm, traffic flips back in milliseconds; otherwise
its image or command is started again like a deploy — nothing is rebuilt.

Without VERSION: on a terminal, pick from the recent releases; elsewhere (CI),
the previous good release.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ver := ""
			if len(args) == 2 {
				ver = args[1]
			}
			return runRollback(cmd, g, o, args[0], ver)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.note, "note", "", "a note kept with the release (why)")
	f.BoolVar(&o.detach, "detach", false, "return once accepted")
	f.BoolVar(&o.jsonOut, "json", false, "print the final release as JSON")
	f.BoolVar(&o.pick, "pick", false, "always pick interactively")
	return cmd
}

func runRollback(cmd *cobra.Command, g *globals, o rollbackOptions, service, ver string) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	if ver == "" && (o.pick || interactive()) {
		ver, err = pickVersion(cmd, c, service, cmd.InOrStdin(), cmd.OutOrStdout())
		if err != nil {
			return err
		}
	}
	acc, err := c.Rollback(cmd.Context(), service, api.RollbackRequest{Version: ver, Note: o.note})
	if err != nil {
		return unreachable(err)
	}
	if acc.Release.Kind != "rollback" && !o.detach {
		return reportEnded(cmd, c, acc, o.jsonOut)
	}
	return report(cmd, c, acc, o.detach, o.jsonOut)
}

// reportEnded follows the deployment a rollback ended because its version
// never took all the traffic (health gate, held preview, canary): ending it
// was the whole rollback, so its "aborted" end is this command's success.
func reportEnded(cmd *cobra.Command, c *api.Client, acc api.Accepted, jsonOut bool) error {
	w := cmd.OutOrStdout()
	r := acc.Release
	if !jsonOut {
		fmt.Fprintf(w, "rollback %s: ending %s %s (release #%d), which never took all the traffic\n", r.Service, r.Kind, r.Version, r.ID)
	}
	ctx, stop := withInterrupt(cmd.Context())
	defer stop()
	rel, err := followSteps(ctx, c, w, r.ID, jsonOut)
	if ctx.Err() != nil && cmd.Context().Err() == nil {
		return withCode(ExitInterrupted, fmt.Errorf("interrupted; follow release #%d with: hotswap wait %d", r.ID, r.ID))
	}
	if err != nil {
		return err
	}
	if jsonOut {
		_ = json.NewEncoder(w).Encode(rel)
		w = io.Discard
	}
	if rel.State == "aborted" {
		fmt.Fprintf(w, "✓ %s: %s %s ended before it took the traffic; the live version keeps serving (release #%d)\n", rel.Service, rel.Kind, rel.Version, rel.ID)
		return nil
	}
	return outcome(w, rel)
}

// interactive reports whether a person is at a terminal (and not in CI):
// stdin must be a real tty, not merely a character device like /dev/null
// (cron, systemd, ssh without a terminal).
func interactive() bool {
	if os.Getenv("CI") != "" {
		return false
	}
	_, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
	return err == nil
}

// pickVersion lists recent releases that went live and asks which to restore.
func pickVersion(cmd *cobra.Command, c *api.Client, service string, in io.Reader, w io.Writer) (string, error) {
	rels, err := c.Releases(cmd.Context(), service, 30)
	if err != nil {
		return "", unreachable(err)
	}
	choices, def := rollbackChoices(rels)
	live := ""
	for _, r := range rels {
		if r.State == "live" {
			live = r.Version
		}
	}
	if len(choices) == 0 {
		return "", withCode(ExitNotFound, fmt.Errorf("%s has no earlier release to roll back to", service))
	}
	fmt.Fprintf(w, "%s is live with %s. Roll back to:\n", service, orDash(live))
	for i, r := range choices {
		state := r.State
		if state == "rolled_back" {
			state = "rolled back (known bad)"
		}
		fmt.Fprintf(w, "  %2d) %-20s %-24s %s  %s\n", i+1, r.Version, state, r.CreatedAt.Local().Format("2006-01-02 15:04"), r.Note)
	}
	if def < 0 {
		fmt.Fprintf(w, "choice [1-%d, no good release to default to]: ", len(choices))
	} else {
		fmt.Fprintf(w, "choice [1-%d, default %d: %s]: ", len(choices), def+1, choices[def].Version)
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return "", usageErr("no choice made")
	}
	line = strings.TrimSpace(line)
	if line == "" {
		if def < 0 {
			return "", usageErr("no choice made")
		}
		return choices[def].Version, nil
	}
	n, err := strconv.Atoi(line)
	if err != nil || n < 1 || n > len(choices) {
		return "", usageErr("choice %q is not between 1 and %d", line, len(choices))
	}
	return choices[n-1].Version, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// rollbackChoices are the versions a rollback may go to, newest first (one
// entry per version, in its newest state, the live one excluded), and the
// index of the default: the warm release when there is one, else the
// newest retired (good) one; never a rolled-back (known bad) one. -1 when
// no choice is good.
func rollbackChoices(rels []api.Release) (choices []api.Release, def int) {
	live := ""
	for _, r := range rels {
		if r.State == "live" {
			live = r.Version
		}
	}
	seen := map[string]bool{}
	for _, r := range rels {
		switch r.State {
		case "warm", "retired", "rolled_back":
		default:
			continue
		}
		if seen[r.Version] || r.Version == live {
			continue
		}
		seen[r.Version] = true
		choices = append(choices, r)
	}
	def = -1
	for i, r := range choices {
		if r.State == "warm" {
			return choices, i
		}
		if r.State == "retired" && def < 0 {
			def = i
		}
	}
	return choices, def
}
