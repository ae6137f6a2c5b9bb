package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newReleasesCmd(g *globals) *cobra.Command {
	var limit int
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "releases SERVICE",
		Short: "The release history: version, state, when, how long, who, note",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			rels, err := c.Releases(cmd.Context(), args[0], limit)
			if err != nil {
				return unreachable(err)
			}
			w := cmd.OutOrStdout()
			if jsonOut {
				return json.NewEncoder(w).Encode(rels)
			}
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tVERSION\tKIND\tSTATE\tWHEN\tTOOK\tBY\tCOMMIT\tNOTE")
			for _, r := range rels {
				by := r.Source
				if r.Actor != "" {
					by += ":" + r.Actor
				}
				if r.WebhookKind != "" {
					by += " (" + r.WebhookKind + ")"
				}
				// The note says why it was asked for; an error, why it ended.
				note := r.Note
				if r.Error != "" {
					if note != "" {
						note += " — "
					}
					note += firstLineOf(r.Error)
				}
				commit := r.GitCommit
				if len(commit) > 12 { // as git abbreviates it
					commit = commit[:12]
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Version, r.Kind, r.State,
					r.CreatedAt.Local().Format("2006-01-02 15:04:05"), fmtDur(time.Duration(r.DurationMS)*time.Millisecond), by, orDash(commit), truncate(note, 100))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 20, "how many releases, newest first")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "JSON for scripts")
	return cmd
}

func firstLineOf(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
