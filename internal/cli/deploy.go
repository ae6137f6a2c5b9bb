package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/version"
)

type deployOptions struct {
	note, commit, author string
	hold, queue, detach  bool
	jsonOut              bool
}

func newDeployCmd(g *globals) *cobra.Command {
	var o deployOptions
	cmd := &cobra.Command{
		Use:   "deploy SERVICE VERSION",
		Short: "Start VERSION beside the live one, switch traffic once it is healthy, keep the old one warm",
		Long: `Deploy starts the new version on a free port, health-checks it, switches traffic
atomically, keeps the previous version running for the warm window (rollback is
then instant) and finally drains and stops it. Each step streams as it happens.

Exit codes: 0 live; 1 the new version failed (nothing changed); 2 invalid input;
3 another deploy of SERVICE is running; 4 unknown service; 5 daemon unreachable.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDeploy(cmd, g, o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.note, "note", "", "a note kept with the release (why, ticket…)")
	f.StringVar(&o.commit, "commit", "", "git commit the version was built from")
	f.StringVar(&o.author, "author", "", "author of the change")
	f.BoolVar(&o.hold, "hold", false, "stop once healthy: preview requests reach it; then `hotswap promote` or `hotswap abort`")
	f.BoolVar(&o.queue, "queue", false, "wait behind a running deploy instead of being refused")
	f.BoolVar(&o.detach, "detach", false, "return once accepted, printing the release id (follow with `hotswap wait`)")
	f.BoolVar(&o.jsonOut, "json", false, "print the final release as JSON")
	return cmd
}

func runDeploy(cmd *cobra.Command, g *globals, o deployOptions, service, ver string) error {
	// Checked here too, so a typo never reaches the daemon; the daemon checks
	// again against the service's own pattern.
	if len(ver) > version.MaxLen || ver == "" {
		return usageErr("%v", version.Default.Validate(ver))
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	acc, err := c.Deploy(cmd.Context(), service, api.DeployRequest{Version: ver, Note: o.note, Commit: o.commit,
		Author: o.author, Hold: o.hold, Queue: o.queue})
	if err != nil {
		return unreachable(err)
	}
	return report(cmd, c, acc, o.detach, o.jsonOut)
}

// report follows an accepted deploy or rollback to its end, or prints its id.
func report(cmd *cobra.Command, c *api.Client, acc api.Accepted, detach, jsonOut bool) error {
	w := cmd.OutOrStdout()
	if detach {
		if jsonOut {
			return json.NewEncoder(w).Encode(acc)
		}
		fmt.Fprintf(w, "release #%d accepted (%s %s); follow with: hotswap wait %d\n", acc.Release.ID, acc.Release.Kind, acc.Release.Version, acc.Release.ID)
		return nil
	}
	if !jsonOut {
		fmt.Fprintf(w, "%s %s %s (release #%d)\n", acc.Release.Kind, acc.Release.Service, acc.Release.Version, acc.Release.ID)
	}
	// Ctrl-C stops following, not the deploy: say so, and how to go on.
	ctx, stop := withInterrupt(cmd.Context())
	defer stop()
	rel, err := follow(ctx, c, w, acc.Release.ID, jsonOut)
	if ctx.Err() != nil && cmd.Context().Err() == nil {
		r := acc.Release
		fmt.Fprintf(cmd.ErrOrStderr(), "\ninterrupted: only this command stopped; the %s of %s %s (release #%d) continues in the daemon.\n"+
			"  follow it: hotswap wait %d\n  abort it:  hotswap abort %s\n", r.Kind, r.Service, r.Version, r.ID, r.ID, r.Service)
		return withCode(ExitInterrupted, errQuiet)
	}
	if jsonOut {
		_ = json.NewEncoder(w).Encode(rel)
	}
	return err
}
