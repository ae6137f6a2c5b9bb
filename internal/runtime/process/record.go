package process

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// recordExt names an instance's record: a file beside its output file
// holding the instance ID, so the instances of a state directory can be
// found again without the engine's database (a deleted or corrupt one):
// List reads them. Written at Start, deleted by Remove; a record whose
// process has ended is deleted by the next List.
const recordExt = ".id"

// writeRecord stores id beside the instance's output file. A failure is
// returned: an instance nobody could find again must not start.
func writeRecord(logPath, id string) error {
	return os.WriteFile(logPath+recordExt, []byte(id+"\n"), 0o600)
}

func removeRecord(logPath string) error {
	err := os.Remove(logPath + recordExt)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// List returns the IDs of this service's processes that still run, from
// their records in LogDir. Records of processes that have ended are
// deleted.
func (r *Runtime) List(ctx context.Context) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(r.cfg.LogDir, "*.log"+recordExt))
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue // removed meanwhile
		}
		id := strings.TrimSpace(string(b))
		ident, err := decodeID(id)
		if err != nil || ident.Service != r.cfg.Service {
			continue
		}
		if !alive(ident) {
			_ = os.Remove(p)
			continue
		}
		ids = append(ids, id)
	}
	return ids, nil
}
