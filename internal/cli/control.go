package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hotswap/hotswap/internal/api"
)

func newPromoteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "promote SERVICE",
		Short: "Let a held deploy (deploy --hold) continue to the switch",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return control(cmd, g, args[0], "promoted", (*api.Client).Promote)
		},
	}
}

func newAbortCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "abort SERVICE",
		Short: "Stop the running deploy: the new version is removed, the live one keeps serving",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return control(cmd, g, args[0], "abort sent to", (*api.Client).Abort)
		},
	}
}

func control(cmd *cobra.Command, g *globals, service, what string, fn func(*api.Client, context.Context, string) (int64, error)) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	id, err := fn(c, cmd.Context(), service)
	if err != nil {
		return unreachable(err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s release #%d of %s\n", what, id, service)
	return nil
}

func newPruneCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "prune SERVICE",
		Short: "Remove images of versions beyond the last N releases (never one a kept release needs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.Prune(cmd.Context(), args[0])
			if err != nil {
				return unreachable(err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "kept: %v\n", res.Kept)
			for _, r := range res.Removed {
				fmt.Fprintf(w, "removed %s\n", r)
			}
			fmt.Fprintf(w, "freed %.1f MB in %d image(s)\n", float64(res.FreedBytes)/1e6, len(res.Removed))
			return nil
		},
	}
}

func newAuditCmd(g *globals) *cobra.Command {
	var service string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "The append-only log of every command and webhook, rejected ones included",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			entries, err := c.Audit(cmd.Context(), service, limit)
			if err != nil {
				return unreachable(err)
			}
			w := cmd.OutOrStdout()
			for _, a := range entries {
				fmt.Fprintf(w, "%s  %-8s %-10s %-8s %-10s %-10s %s\n", a.At.Local().Format("2006-01-02 15:04:05"),
					a.Outcome, a.Source+":"+a.Actor, a.Action, a.Service, a.Version, a.Detail)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "only this service")
	cmd.Flags().IntVarP(&limit, "limit", "n", 50, "how many entries, newest first")
	return cmd
}

func printJSON(cmd *cobra.Command, v any, err error) error {
	if jerr := json.NewEncoder(cmd.OutOrStdout()).Encode(v); jerr != nil && err == nil {
		return jerr
	}
	return err
}

func newReloadCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Apply the edited config file to the running daemon (as SIGHUP does); an invalid file changes nothing",
		Long: `Reload makes the daemon read its config file again. The whole file is validated
first: on any error nothing changes and the errors are listed as file:line:col: key.
Services are added and removed (a removed service's requests in flight drain, then
its instances stop); routes apply at once; a change to what an instance is (command,
env, image settings, health check, resources) is rolled out as a health-gated release
of kind config of the live version, refused — with the old instance still serving —
if the new instance fails its health check. Unchanged services are not touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.Reload(cmd.Context())
			if err != nil {
				return unreachable(err)
			}
			w := cmd.OutOrStdout()
			for _, s := range res.Added {
				fmt.Fprintf(w, "added     %s (nothing serves it until a deploy)\n", s)
			}
			for _, s := range res.Removed {
				fmt.Fprintf(w, "removed   %s (requests in flight drain, then its instances stop)\n", s)
			}
			for _, u := range res.Updated {
				if u.ConfigRelease != 0 {
					fmt.Fprintf(w, "updated   %s: new instance configuration rolling out as release #%d (`hotswap wait %d`)\n", u.Service, u.ConfigRelease, u.ConfigRelease)
				} else {
					fmt.Fprintf(w, "updated   %s\n", u.Service)
				}
			}
			if res.Proxy {
				fmt.Fprintln(w, "proxy     settings applied to every new request")
			}
			fmt.Fprintf(w, "unchanged %d service(s)\n", len(res.Unchanged))
			return nil
		},
	}
}
