package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// writeFileAtomic replaces path with data so that a crash at any point
// leaves either the old or the new content, never a mix: temp file in the
// same directory, fsync, rename over path, fsync of the directory (which
// makes the rename itself durable).
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// saveGeneration writes g to path atomically.
func saveGeneration(path string, g Generation) error {
	data, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return fmt.Errorf("encode generation %d: %w", g.Number, err)
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// loadGeneration reads the generation at path; a missing file is
// generation 0 (nothing committed yet). A file that does not parse or
// validate is an error: the edge refuses to start rather than serve
// routes it cannot trust.
func loadGeneration(path string) (Generation, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Generation{}, nil
	}
	if err != nil {
		return Generation{}, fmt.Errorf("read %s: %w", path, err)
	}
	g, err := DecodeGeneration(bytes.NewReader(data))
	if err != nil {
		return Generation{}, fmt.Errorf("state file %s: %w", path, err)
	}
	return g, nil
}

// prepared is what an edge keeps of a generation it answered ready for,
// so that a restart between PREPARE and COMMIT neither forgets the promise
// nor hides that the edge lags.
type prepared struct {
	Generation Generation `json:"prepared"`
	At         time.Time  `json:"at"`
}

// preparedPath is the prepared file beside the state file.
func preparedPath(stateFile string) string { return stateFile + ".prepared" }

func savePrepared(path string, p prepared) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode prepared generation %d: %w", p.Generation.Number, err)
	}
	return writeFileAtomic(path, data)
}

// loadPrepared reads the prepared file; nil when there is none. A file
// that does not parse is an error, as for the state file.
func loadPrepared(path string) (*prepared, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var p prepared
	if err := decodeStrict(bytes.NewReader(data), &p); err != nil {
		return nil, fmt.Errorf("prepared file %s: %w", path, err)
	}
	if err := p.Generation.Validate(); err != nil {
		return nil, fmt.Errorf("prepared file %s: %w", path, err)
	}
	return &p, nil
}
