package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hotswap/hotswap/internal/api"
)

func newStatusCmd(g *globals) *cobra.Command {
	var jsonOut, watch bool
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
			w := cmd.OutOrStdout()
			if watch {
				ctx, stop := withInterrupt(cmd.Context())
				defer stop()
				for ctx.Err() == nil {
					st, err := c.Status(ctx, name)
					if ctx.Err() != nil {
						break
					}
					if err != nil {
						return unreachable(err)
					}
					// Clear the screen and home the cursor, then redraw.
					fmt.Fprintf(w, "\x1b[H\x1b[2J%s  every %s, Ctrl-C to stop\n\n", time.Now().Format("15:04:05"), followEvery)
					printStatus(w, st)
					select {
					case <-ctx.Done():
					case <-time.After(followEvery):
					}
				}
				return nil
			}
			st, err := c.Status(cmd.Context(), name)
			if err != nil {
				return unreachable(err)
			}
			if jsonOut {
				return json.NewEncoder(w).Encode(st)
			}
			printStatus(w, st)
			if name == "" {
				// A daemon without HTTPS (or older than this CLI) has none to show.
				if certs, err := c.Certificates(cmd.Context()); err == nil {
					printCertificates(w, certs, time.Now())
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "JSON for scripts")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "redraw every second until Ctrl-C")
	return cmd
}

// printStatus renders services as `hotswap status` shows them.
func printStatus(w io.Writer, st []api.ServiceStatus) {
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
		if s.PreviewSecret != "" {
			fmt.Fprintf(w, "  %-6s held version reached with preview secret %s\n", "preview", s.PreviewSecret)
		}
		if s.ClientErrors > 0 {
			fmt.Fprintf(w, "  %-6s %d (malformed, broken off or timed out; not counted against any version)\n", "client errors", s.ClientErrors)
		}
		if s.Queued > 0 {
			fmt.Fprintf(w, "  %-6s %d deploy(s) waiting\n", "queue", s.Queued)
		}
	}
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

// printCertificates shows each HTTPS certificate: host, source, issuer,
// expiry, and any problem.
func printCertificates(w io.Writer, certs []api.Certificate, now time.Time) {
	if len(certs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nhttps certificates\n")
	for _, c := range certs {
		host := c.Host
		if host == "" {
			host = "(default)"
		}
		line := fmt.Sprintf("  %-28s %-4s", host, c.Source)
		if !c.NotAfter.IsZero() {
			line += fmt.Sprintf("  %s  expires %s (in %s)", c.Issuer, c.NotAfter.Local().Format("2006-01-02 15:04"),
				fmtUntil(c.NotAfter.Sub(now)))
		}
		if c.Problem != "" {
			line += "  ! " + c.Problem
		}
		fmt.Fprintln(w, line)
	}
}

// fmtUntil shows a certificate's remaining life: days when there are
// several, else hours and minutes.
func fmtUntil(d time.Duration) string {
	switch {
	case d < 0:
		return "expired"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return d.Round(time.Minute).String()
}
