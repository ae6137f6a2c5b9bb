package docker

import (
	"fmt"
	"io"

	"github.com/moby/moby/api/types/jsonstream"
)

// progress turns the engine's pull messages into lines a person can read
// in a deploy log: one line per layer and status change, and for
// downloads and extractions one line per quarter done, instead of the
// hundreds of updates the engine sends. It is used by one goroutine.
type progress struct {
	out  io.Writer
	last map[string]string // layer ID → last status line written
}

func newProgress(out io.Writer) *progress {
	return &progress{out: out, last: map[string]string{}}
}

func (p *progress) show(m jsonstream.Message) {
	if m.Status == "" {
		return
	}
	line := m.Status
	if d := m.Progress; d != nil && d.Total > 0 && d.Current > 0 {
		quarter := min(4, int(4*d.Current/d.Total))
		line = fmt.Sprintf("%s %d%% of %s", m.Status, 25*quarter, humanBytes(d.Total))
	} else if d != nil && (d.Current > 0 || d.Total > 0) {
		return // progress without a known total: wait for the status change
	}
	if m.ID != "" {
		if p.last[m.ID] == line {
			return
		}
		p.last[m.ID] = line
		line = m.ID + ": " + line
	}
	fmt.Fprintln(p.out, line)
}

// humanBytes formats n in the largest binary unit that keeps it ≥ 1.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
