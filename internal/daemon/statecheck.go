package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hotswap/hotswap/internal/release"
	"github.com/hotswap/hotswap/internal/runtime/docker"
)

// ErrStateNeedsOperator: the state directory is in a state the daemon must
// not guess its way out of (a corrupt or missing database while apps of
// this directory still run). The message says what to run.
var ErrStateNeedsOperator = errors.New("the state directory needs an operator")

// backupsKept is how many database backups the state directory keeps.
const backupsKept = 5

// DBPath and BackupDir are where a state directory keeps its database and
// the database's backups.
func DBPath(stateDir string) string    { return filepath.Join(stateDir, "hotswap.db") }
func BackupDir(stateDir string) string { return filepath.Join(stateDir, "backups") }

// openStore opens the release store after checking it: a database that
// fails its integrity check, or a missing one where backups say there was
// one, refuses the start and names the backup and the command to restore
// it. fresh reports that the database was created now.
func (d *Daemon) openStore(ctx context.Context) (st *release.Store, fresh bool, err error) {
	path := DBPath(d.cfg.StateDir)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fresh = true
		if b := newestBackup(d.cfg.StateDir); b != "" {
			return nil, true, fmt.Errorf("%w: the database %s is missing, but this state directory has backups: "+
				"the apps it deployed may still run and a fresh database would lose them; %s",
				ErrStateNeedsOperator, path, restoreHint(d.cfg.StateDir, b))
		}
	}
	st, err = release.Open(ctx, path)
	if errors.Is(err, release.ErrCorrupt) {
		hint := "no backup exists in " + BackupDir(d.cfg.StateDir) + "; move the file aside to start with an empty history"
		if b := newestBackup(d.cfg.StateDir); b != "" {
			hint = restoreHint(d.cfg.StateDir, b)
		}
		return nil, false, fmt.Errorf("%w: %w; refusing to start; %s", ErrStateNeedsOperator, err, hint)
	}
	if err != nil {
		return nil, fresh, fmt.Errorf("open state: %w", err)
	}
	err = st.EnableBackups(BackupDir(d.cfg.StateDir), backupsKept, func(err error) { d.log.Error("database backup", "err", err) })
	if err != nil {
		return nil, fresh, errors.Join(err, st.Close())
	}
	return st, fresh, nil
}

func newestBackup(stateDir string) string {
	all, _ := release.ListBackups(BackupDir(stateDir))
	if len(all) == 0 {
		return ""
	}
	return all[0]
}

func restoreHint(stateDir, backup string) string {
	return fmt.Sprintf("the newest backup is %s; restore it with: hotswap state restore --state-dir %s", backup, stateDir)
}

// lister is a runtime that can find its instances without the database.
type lister interface {
	List(ctx context.Context) ([]string, error)
}

// checkUnknown refuses a start on a database created just now while
// instances of this state directory still run: they were deployed under a
// database that is gone, and recovery would either orphan them (and a
// redeploy start another copy) or remove them. The operator decides.
func (d *Daemon) checkUnknown(ctx context.Context, runtimes map[string]lister) error {
	var found []string
	for name, r := range runtimes {
		ids, err := r.List(ctx)
		if err != nil {
			return fmt.Errorf("look for instances of %s: %w", name, err)
		}
		for _, id := range ids {
			found = append(found, name+": "+shortID(id))
		}
	}
	if len(found) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the database %s is new, but %d instance(s) of this state directory exist that no record knows (%s); "+
		"restore the database from a backup (hotswap state restore), or remove them "+
		"(containers: docker rm -f $(docker ps -aq --filter label=%s=%s); processes: stop them) "+
		"or start with --remove-unknown to have hotswap remove them",
		ErrStateNeedsOperator, DBPath(d.cfg.StateDir), len(found), strings.Join(found, ", "), docker.LabelOwner, d.owner)
}

// shortID shortens an instance ID for messages.
func shortID(id string) string {
	if len(id) > 24 {
		return id[:24] + "…"
	}
	return id
}
