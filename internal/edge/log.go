package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
)

// Log is the leader's durable record of the protocol: the last committed
// generation and an intent (a generation number being prepared). The
// daemon will keep it beside the release history; FileLog is a standalone
// implementation. Every method returns only once the change is durable.
type Log interface {
	// Load returns the committed generation and the pending intent (0 when
	// none).
	Load() (committed Generation, pending uint64, err error)
	// Begin reserves the next generation number and records it as the
	// intent. Numbers are never handed out twice, even after an abort, so an
	// edge still holding an aborted PREPARE can never commit it by mistake.
	Begin() (g uint64, err error)
	// Abort drops the intent g.
	Abort(g uint64) error
	// Commit records g as committed and drops the intent: the commit point.
	Commit(g Generation) error
}

// FileLog keeps the leader's log in one JSON file, written atomically.
type FileLog struct {
	path string
	// mu guards the file: each method reads, changes and writes it whole.
	mu sync.Mutex
}

var _ Log = (*FileLog)(nil)

// NewFileLog returns the log kept at path (created at the first write).
func NewFileLog(path string) *FileLog { return &FileLog{path: path} }

type fileLogData struct {
	Committed Generation `json:"committed"`
	Pending   uint64     `json:"pending,omitempty"`
	Last      uint64     `json:"last"` // highest number Begin handed out
}

func (l *FileLog) read() (fileLogData, error) {
	var d fileLogData
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, fmt.Errorf("leader log: %w", err)
	}
	defer f.Close()
	if err := decodeStrict(f, &d); err != nil {
		return d, fmt.Errorf("leader log %s: %w", l.path, err)
	}
	if d.Committed.Number > 0 {
		if err := d.Committed.Validate(); err != nil {
			return d, fmt.Errorf("leader log %s: committed generation: %w", l.path, err)
		}
	}
	return d, nil
}

func (l *FileLog) write(d fileLogData) error {
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("leader log: %w", err)
	}
	return writeFileAtomic(l.path, append(data, '\n'))
}

// Load implements Log.
func (l *FileLog) Load() (Generation, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, err := l.read()
	return d.Committed, d.Pending, err
}

// Begin implements Log.
func (l *FileLog) Begin() (uint64, error) {
	var g uint64
	err := l.update(func(d *fileLogData) error {
		g = max(d.Last, d.Committed.Number) + 1
		d.Pending, d.Last = g, g
		return nil
	})
	return g, err
}

// Abort implements Log.
func (l *FileLog) Abort(g uint64) error {
	return l.update(func(d *fileLogData) error {
		if d.Pending == g {
			d.Pending = 0
		}
		return nil
	})
}

// Commit implements Log.
func (l *FileLog) Commit(g Generation) error {
	return l.update(func(d *fileLogData) error {
		if g.Number <= d.Committed.Number {
			return fmt.Errorf("leader log: commit %d is not newer than committed %d", g.Number, d.Committed.Number)
		}
		d.Committed, d.Pending = g, 0
		return nil
	})
}

func (l *FileLog) update(change func(*fileLogData) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, err := l.read()
	if err != nil {
		return err
	}
	if err := change(&d); err != nil {
		return err
	}
	return l.write(d)
}
