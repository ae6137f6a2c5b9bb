package process

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTailLines(t *testing.T) {
	// numbered(a, b) is lines "line a" … "line b-1", each newline-terminated.
	numbered := func(a, b int) string {
		var s strings.Builder
		for i := a; i < b; i++ {
			fmt.Fprintf(&s, "line %d\n", i)
		}
		return s.String()
	}
	lines := func(a, b int) []string { return strings.Split(strings.TrimSuffix(numbered(a, b), "\n"), "\n") }
	long := strings.Repeat("x", tailChunk+10) // one line longer than a chunk

	tests := []struct {
		name    string
		content string
		n       int
		want    []string
	}{
		{"empty file", "", 5, nil},
		{"n zero", "a\nb\n", 0, nil},
		{"one line, no newline", "a", 5, []string{"a"}},
		{"one line", "a\n", 5, []string{"a"}},
		{"fewer than n", "a\nb\n", 5, []string{"a", "b"}},
		{"last line unterminated", "a\nb\nc", 2, []string{"b", "c"}},
		{"exactly n", "a\nb\n", 2, []string{"a", "b"}},
		{"empty lines kept", "a\n\nb\n\n", 3, []string{"", "b", ""}},
		{"many chunks", numbered(0, 20000), 3, lines(19997, 20000)},
		{"n spans chunks", numbered(0, 20000), 9000, lines(11000, 20000)},
		{"line longer than a chunk", "first\n" + long + "\nlast\n", 2, []string{long, "last"}},
		{"whole file over chunks", numbered(0, 5000), 10000, lines(0, 5000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.log")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := tailLines(path, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("tailLines(%d) = %d lines %.80q…, want %d lines %.80q…", tc.n, len(got), got, len(tc.want), tc.want)
			}
		})
	}
}

// TestTailLinesBounded: however many lines are asked for, at most
// maxTailBytes are read, and the cut line at the front is dropped.
func TestTailLinesBounded(t *testing.T) {
	line := strings.Repeat("y", 99) + "\n" // 100 bytes
	total := maxTailBytes/100 + 1000
	path := filepath.Join(t.TempDir(), "big.log")
	if err := os.WriteFile(path, []byte(strings.Repeat(line, total)), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := tailLines(path, total)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) >= total || len(got) > maxTailBytes/100 {
		t.Fatalf("got %d lines of %d, want at most %d", len(got), total, maxTailBytes/100)
	}
	for i, l := range got {
		if l != line[:99] {
			t.Fatalf("line %d is cut: %q", i, l)
		}
	}
}

func TestTailLinesMissing(t *testing.T) {
	_, err := tailLines(filepath.Join(t.TempDir(), "none.log"), 3)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}
