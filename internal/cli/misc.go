package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hotswap/hotswap/internal/config"
	"github.com/hotswap/hotswap/internal/sampleapp"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with the config file"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check [FILE]",
		Short: "Validate a config file; every problem is reported with its line and key",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := g.resolveConfigPath()
			if len(args) == 1 {
				p = args[0]
			}
			if p == "" {
				return usageErr("no config file: pass one, use -c, or create ./hotswap.yaml")
			}
			cfg, err := config.Load(p)
			if err != nil {
				return withCode(ExitUsage, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d services)\n", p, len(cfg.Services))
			return nil
		},
	})
	return cmd
}

// newSampleAppCmd runs the sample app that ships inside the binary, so the
// demo (and a first try on a server) needs nothing but hotswap itself.
func newSampleAppCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "sampleapp [flags]",
		Short:              "Run the small sample web app built into hotswap (for the demo and trials)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := sampleapp.Main(args, cmd.OutOrStdout(), cmd.ErrOrStderr()); code != 0 {
				os.Exit(code) // the app's own exit code is its contract with the runtime
			}
			return nil
		},
	}
}
