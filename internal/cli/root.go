// Package cli is hotswap's command line: one file per verb, each a thin
// layer over the control API client (or, for serve and demo, the daemon).
// Errors become exit codes in exactly one place (exit.go).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/config"
)

// globals are the flags every command shares.
type globals struct {
	configPath string
	socket     string
	addr       string
	token      string
	out, errw  io.Writer
	sockFrom   string // where the socket path came from, for the unreachable message
}

// Main runs the CLI with args and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{out: stdout, errw: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil && !errors.Is(err, errQuiet) && err.Error() != "" {
		fmt.Fprintln(stderr, "hotswap:", err)
		if g.sockFrom != "" && ExitCode(err) == ExitUnreachable {
			fmt.Fprintf(stderr, "hotswap: the control socket came from %s; point the CLI at the daemon's with --socket PATH or HOTSWAP_SOCKET\n", g.sockFrom)
		}
	}
	if err != nil && isUsage(err) {
		return ExitUsage
	}
	return ExitCode(err)
}

// isUsage recognises cobra's own argument and flag errors.
func isUsage(err error) bool {
	var ee *exitError
	if errors.As(err, &ee) {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "unknown flag") || strings.Contains(m, "unknown command") ||
		strings.Contains(m, "accepts ") || strings.Contains(m, "requires at least") ||
		strings.Contains(m, "flag needs an argument") || strings.Contains(m, "invalid argument")
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "hotswap",
		Short:         "Zero-downtime deploys and instant rollbacks behind one stable port",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
	}
	root.SetVersionTemplate("hotswap {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configPath, "config", "c", envOr("HOTSWAP_CONFIG", ""), "config file (default ./hotswap.yaml if present; env HOTSWAP_CONFIG)")
	pf.StringVar(&g.socket, "socket", envOr("HOTSWAP_SOCKET", ""), "control socket (default from the config's control.socket or <state_dir>/hotswap.sock)")
	pf.StringVar(&g.addr, "addr", envOr("HOTSWAP_ADDR", ""), "talk to a remote daemon's TCP listener instead, e.g. http://10.0.0.5:9090 (env HOTSWAP_ADDR)")
	pf.StringVar(&g.token, "token", "", "bearer token for --addr (prefer env HOTSWAP_TOKEN)")
	root.AddCommand(
		newServeCmd(g), newDeployCmd(g), newRollbackCmd(g), newReleasesCmd(g), newStatusCmd(g),
		newWaitCmd(g), newPromoteCmd(g), newAbortCmd(g), newPruneCmd(g), newReloadCmd(g), newConfigCmd(g),
		newAuditCmd(g), newLogsCmd(g), newDemoCmd(g), newSampleAppCmd(), newStateCmd(g),
		newEdgeCmd(g),
	)
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// resolveConfigPath returns the config file to use, or "" when there is none.
func (g *globals) resolveConfigPath() string {
	if g.configPath != "" {
		return g.configPath
	}
	if _, err := os.Stat("hotswap.yaml"); err == nil {
		return "hotswap.yaml"
	}
	return ""
}

// client connects to the daemon the flags point at.
func (g *globals) client() (*api.Client, error) {
	if g.addr != "" {
		tok := g.token
		if tok == "" {
			tok = os.Getenv("HOTSWAP_TOKEN")
		}
		if tok == "" {
			return nil, usageErr("--addr needs a token: set HOTSWAP_TOKEN or --token")
		}
		return api.DialTCP(g.addr, tok), nil
	}
	sock, err := g.socketPath()
	if err != nil {
		return nil, err
	}
	return api.DialSocket(sock, localActor()), nil
}

// socketPath is the control socket the flags point at, and records where
// it came from for the message when nothing answers there. Only
// state_dir and control.socket are read from the config file (no
// secrets, no validation): see config.Locate.
func (g *globals) socketPath() (string, error) {
	switch {
	case g.socket != "":
		g.sockFrom = "--socket or HOTSWAP_SOCKET"
		return g.socket, nil
	case g.resolveConfigPath() != "":
		p := g.resolveConfigPath()
		loc, err := config.Locate(p)
		if err != nil {
			return "", withCode(ExitUsage, fmt.Errorf("%w\n(only state_dir and control.socket are needed from it, to find the daemon; "+
				"or give the daemon's socket with --socket PATH or HOTSWAP_SOCKET)", err))
		}
		g.sockFrom = "control.socket in " + p
		return loc.Socket, nil
	default:
		g.sockFrom = "the default; no config file given"
		return filepath.Join(config.DefaultStateDir, config.DefaultSocketName), nil
	}
}

// stateDir is the state directory --state-dir or the config file names.
func (g *globals) stateDir(flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	p := g.resolveConfigPath()
	if p == "" {
		return config.DefaultStateDir, nil
	}
	loc, err := config.Locate(p)
	if err != nil {
		return "", withCode(ExitUsage, err)
	}
	return loc.StateDir, nil
}

// localActor names the person at the keyboard for the history: under
// sudo the user who ran it (the daemon trusts this claim only from root
// or its own user; anyone else is recorded by the socket's peer
// credentials).
func localActor() string {
	if su := os.Getenv("SUDO_USER"); su != "" && os.Geteuid() == 0 {
		return su
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return envOr("USER", "local")
}

// unreachable marks errors of reaching the daemon so they exit with ExitUnreachable.
func unreachable(err error) error {
	var ae *api.Error
	if err == nil || errors.As(err, &ae) {
		return err
	}
	if strings.Contains(err.Error(), "cannot reach the hotswap daemon") {
		return withCode(ExitUnreachable, err)
	}
	return err
}
