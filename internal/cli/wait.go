package cli

import (
	"strconv"

	"github.com/spf13/cobra"
)

func newWaitCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "wait RELEASE_ID",
		Short: "Follow a deploy or rollback (e.g. one a webhook queued) to its end",
		Long:  "Wait streams the steps of a release and exits 0 if it went live, 1 if it failed.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageErr("release id %q is not a positive number", args[0])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			rel, err := follow(cmd.Context(), c, cmd.OutOrStdout(), id, jsonOut)
			if jsonOut {
				return printJSON(cmd, rel, err)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the final release as JSON")
	return cmd
}
