package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newLogsCmd(g *globals) *cobra.Command {
	var lines int
	cmd := &cobra.Command{
		Use:   "logs SERVICE [VERSION]",
		Short: "The last output lines of the live version (or of VERSION, running or kept)",
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
			l, err := c.Logs(cmd.Context(), args[0], ver, lines)
			if err != nil {
				return unreachable(err)
			}
			w := cmd.OutOrStdout()
			for _, line := range l.Lines {
				fmt.Fprintln(w, line)
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&lines, "lines", "n", 100, "how many lines, newest last")
	return cmd
}
