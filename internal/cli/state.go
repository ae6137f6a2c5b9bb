package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hotswap/hotswap/internal/daemon"
	"github.com/hotswap/hotswap/internal/release"
	"github.com/hotswap/hotswap/internal/statedir"
)

func newStateCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Inspect and repair the daemon's state directory (database backups)",
		Long: `The daemon backs up its database into <state_dir>/backups after each release
that finishes, keeping the newest five. When the database is corrupt or missing
the daemon refuses to start and names the newest backup; restore it here (with
the daemon stopped) and start the daemon again.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "state-dir", "", "state directory (default: state_dir from the config file)")
	list := &cobra.Command{
		Use:   "backups",
		Short: "List the database backups, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sd, err := g.stateDir(dir)
			if err != nil {
				return err
			}
			all, err := release.ListBackups(daemon.BackupDir(sd))
			if err != nil {
				return err
			}
			if len(all) == 0 {
				fmt.Fprintf(g.out, "no backups in %s\n", daemon.BackupDir(sd))
			}
			for _, b := range all {
				fmt.Fprintln(g.out, b)
			}
			return nil
		},
	}
	var from string
	restore := &cobra.Command{
		Use:   "restore",
		Short: "Replace the database with a backup (the newest unless --from); the daemon must be stopped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sd, err := g.stateDir(dir)
			if err != nil {
				return err
			}
			lock, err := statedir.Acquire(sd)
			if err != nil {
				return err
			}
			defer lock.Close()
			if from == "" {
				all, err := release.ListBackups(daemon.BackupDir(sd))
				if err != nil {
					return err
				}
				if len(all) == 0 {
					return withCode(ExitNotFound, fmt.Errorf("no backups in %s", daemon.BackupDir(sd)))
				}
				from = all[0]
			}
			if from, err = filepath.Abs(from); err != nil {
				return err
			}
			kept, err := release.Restore(cmd.Context(), from, daemon.DBPath(sd))
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "restored %s from %s\n", daemon.DBPath(sd), from)
			if kept != "" {
				fmt.Fprintf(g.out, "the previous database is kept as %s\n", kept)
			}
			fmt.Fprintln(g.out, "releases that ended after this backup are not in it; start the daemon: it re-adopts what the restored history knows")
			return nil
		},
	}
	restore.Flags().StringVar(&from, "from", "", "backup file to restore (default: the newest in <state_dir>/backups)")
	cmd.AddCommand(list, restore)
	return cmd
}
