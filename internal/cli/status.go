package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotswap/hotswap/internal/api"
)

func newStatusCmd(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status [SERVICE]",
		Short: "Every service with its live and warm versions, health and requests in flight",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			st, err := c.Status(cmd.Context(), name)
			if err != nil {
				return unreachable(err)
			}
			w := cmd.OutOrStdout()
			if jsonOut {
				return json.NewEncoder(w).Encode(st)
			}
			for i, s := range st {
				if i > 0 {
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "%s  (%s%s)\n", s.Service, strings.Join(s.Hosts, ", "), s.PathPrefix)
				printVersion(w, "live", s.Live)
				printVersion(w, "warm", s.Warm)
				if s.Active != nil {
					fmt.Fprintf(w, "  %-6s %s %s, release #%d, for %s\n", "now", s.Active.Kind, s.Active.Version, s.Active.Release, fmtDur(time.Duration(s.Active.ElapsedMS)*time.Millisecond))
				}
				if s.Queued > 0 {
					fmt.Fprintf(w, "  %-6s %d deploy(s) waiting\n", "queue", s.Queued)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "JSON for scripts")
	return cmd
}

func printVersion(w interface{ Write([]byte) (int, error) }, label string, v *api.VersionStatus) {
	if v == nil {
		fmt.Fprintf(w, "  %-6s -\n", label)
		return
	}
	t := v.Traffic
	health := "healthy"
	switch {
	case !v.Health.Healthy:
		health = "unhealthy: " + v.Health.Reason
	case v.Health.Checked.IsZero():
		health = "not checked yet"
	}
	fmt.Fprintf(w, "  %-6s %-14s %s  release #%d  since %s  in flight %d  requests %d  5xx %d  errors %d  p95 %s\n",
		label, v.Version, health, v.Release, v.Since.Local().Format("15:04:05"), v.InFlight,
		t.Requests, t.Responses5xx, t.TransportErrors, fmtDur(time.Duration(t.P95MS*float64(time.Millisecond))))
}
