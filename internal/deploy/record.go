package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/hotswap/hotswap/internal/release"
)

// storeTimeout bounds one bookkeeping write; the engine never lets the
// store hold up traffic decisions.
const storeTimeout = 10 * time.Second

// event appends a step to a release's log and wakes followers. A store
// failure is logged, never fatal: the deploy's effect on traffic matters
// more than its diary.
func (e *Engine) event(rel int64, step string, level release.Level, msg string, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := e.store.AppendEvent(ctx, release.Event{ReleaseID: rel, At: time.Now(), Step: step, Level: level, Message: msg, Duration: d}); err != nil {
		e.log.Error("record event", "release", rel, "step", step, "err", err)
	}
	e.log.Debug(msg, "release", rel, "step", step, "took", d)
	e.signalChange()
}

// record updates fields of a release that do not change its state.
func (e *Engine) record(rel int64, fn func(*release.Release)) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := e.store.UpdateRelease(ctx, rel, func(r *release.Release) error { fn(r); return nil }); err != nil {
		e.log.Error("update release", "release", rel, "err", err)
	}
	e.signalChange()
}

// setState moves a release to state, with an optional event saying why.
func (e *Engine) setState(rel int64, state release.State, why string) {
	e.record(rel, func(r *release.Release) {
		r.State = state
		if r.FinishedAt.IsZero() {
			r.FinishedAt = time.Now()
		}
	})
	if why != "" {
		e.event(rel, "state", release.LevelInfo, string(state)+": "+why, 0)
	}
}

// maxStreamedLines caps how many output lines one step stores as events
// (a pull or a migration can print a lot; the tail is kept in HookOutput).
const maxStreamedLines = 400

// lineWriter turns a runtime's output (pull progress, hook output) into
// events, one per line, so the CLI streams it as it happens.
func (e *Engine) lineWriter(rel int64, step string) io.Writer {
	return &lineWriter{fn: func(line string) { e.event(rel, step, release.LevelInfo, line, 0) }}
}

type lineWriter struct {
	mu    sync.Mutex // guards buf, lines
	buf   []byte
	lines int
	fn    func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.buf[:i]), "\r")
		w.buf = w.buf[i+1:]
		if line == "" {
			continue
		}
		w.lines++
		switch {
		case w.lines < maxStreamedLines:
			w.fn(line)
		case w.lines == maxStreamedLines:
			w.fn(fmt.Sprintf("(output continues; only the first %d lines are streamed)", maxStreamedLines))
		}
	}
	if len(w.buf) > 64<<10 { // a line without end: flush it rather than grow
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex // guards b
	b   []byte
	max int
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

type teeWriter []io.Writer

func (t teeWriter) Write(p []byte) (int, error) {
	for _, w := range t {
		if _, err := w.Write(p); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
