package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestFollowLines: following prints each line once, in order, across
// windows that overlap, and says so when a window skipped lines.
func TestFollowLines(t *testing.T) {
	windows := [][]string{
		{"a", "b", "c"},
		{"b", "c", "d"},    // one new line
		{"b", "c", "d"},    // nothing new
		{"c", "d", "d"},    // a repeated line is new
		{"x", "y", "z"},    // no overlap: lines were skipped
		{"y", "z", "same"}, // last
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	fetch := func(context.Context) ([]string, error) {
		w := windows[n]
		n++
		if n == len(windows) {
			cancel()
			return w, nil
		}
		return w, nil
	}
	var out bytes.Buffer
	if err := followLines(ctx, &out, time.Millisecond, fetch); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"a", "b", "c", "d", "d", "… (earlier lines not shown: more output than one window, or the file was rotated)", "x", "y", "z"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("printed %q\nwant    %q", got, want)
	}
}
