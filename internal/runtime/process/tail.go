package process

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// Bounds of one Logs call: an app's log file grows without limit, so the
// tail is read backwards in chunks and never more than maxTailBytes of it.
const (
	tailChunk    = 32 << 10
	maxTailBytes = 4 << 20
)

// tailLines returns up to n of the last lines of the file at path, without
// their newlines. A final line without a newline counts as a line. When
// the byte bound cuts the file, the first (partial) line read is dropped.
func tailLines(path string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("seek %s: %w", path, err)
	}
	// buf holds the bytes [pos, size) of the file.
	var buf []byte
	pos := size
	for pos > 0 && int64(len(buf)) < maxTailBytes {
		// A trailing newline ends the last line rather than starting an
		// empty one, hence n+1 newlines when the buffer ends with one.
		want := n
		if len(buf) > 0 && buf[len(buf)-1] == '\n' {
			want++
		}
		if bytes.Count(buf, []byte{'\n'}) >= want {
			break
		}
		step := min(int64(tailChunk), pos, maxTailBytes-int64(len(buf)))
		chunk := make([]byte, step)
		if _, err := f.ReadAt(chunk, pos-step); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		pos -= step
		buf = append(chunk, buf...)
	}
	buf = bytes.TrimSuffix(buf, []byte{'\n'})
	if len(buf) == 0 {
		return nil, nil
	}
	lines := bytes.Split(buf, []byte{'\n'})
	if pos > 0 {
		lines = lines[1:] // starts mid-line
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(l)
	}
	return out, nil
}
