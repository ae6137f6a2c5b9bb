package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every problem Parse, Load and
// Validate find in a config's content, so the CLI can tell "fix your file"
// (a usage exit code) from "could not read it" (an I/O error, which does
// not match).
var ErrInvalid = errors.New("invalid config")

// Error is one problem in a config file, located precisely enough to be
// fixed without searching: file, line, column and key path.
type Error struct {
	File   string // as given to Load or Parse; "" for a Config built in code
	Line   int    // 1-based; 0 when unknown (a Config built in code)
	Column int    // 1-based; 0 when unknown
	Path   string // key path such as "services[1].health.interval"; "" for syntax errors
	Msg    string // what is wrong and, where possible, what would be right
}

// Error renders "file:line:col: path: msg", dropping the parts that are
// unknown, so editors and terminals can jump to the spot.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is reports that every Error is an ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Errors is every problem found in one file, in file order, so a user fixes
// them all in one round instead of one per run.
type Errors []*Error

// Error lists one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the individual problems to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Pos is a place in the config file.
type Pos struct{ Line, Column int }

// problems collects Errors while decoding and validating. It is owned by
// one Parse or Validate call and never shared.
type problems struct {
	file      string
	pos       map[string]Pos // key path -> where it was written; nil for code-built configs
	list      Errors
	explained map[string]bool // paths (and everything under them) already explained
}

// add records a problem at path, located at path's own position or, when
// path was never written (a missing key), at its nearest written parent.
// A path that already has a problem (say a type error during decoding) gets
// no second one from validation: the first explains it.
func (p *problems) add(path, format string, args ...any) {
	p.addAt(p.lookup(path), path, format, args...)
}

// addAt records a problem at an explicit position (decoding knows it),
// unless path or a parent of it already has one.
func (p *problems) addAt(pos Pos, path, format string, args ...any) {
	if p.silenced(path) {
		return
	}
	p.quiet(path)
	p.list = append(p.list, &Error{File: p.file, Line: pos.Line, Column: pos.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// quiet marks path as explained: later problems at or under it are
// consequences (a default left in place, a value never read), not news.
func (p *problems) quiet(path string) {
	if p.explained == nil {
		p.explained = map[string]bool{}
	}
	p.explained[path] = true
}

func (p *problems) silenced(path string) bool {
	for q := path; ; q = parentPath(q) {
		if p.explained[q] {
			return true
		}
		if q == "" {
			return false
		}
	}
}

func (p *problems) lookup(path string) Pos {
	for path != "" {
		if pos, ok := p.pos[path]; ok {
			return pos
		}
		path = parentPath(path)
	}
	return Pos{}
}

// err returns the collected problems sorted by position, or nil.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool {
		a, b := p.list[i], p.list[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return p.list
}

// parentPath strips the last element from a key path:
// "services[1].health" -> "services[1]" -> "services" -> "".
func parentPath(p string) string {
	if strings.HasSuffix(p, `"]`) {
		if i := strings.LastIndex(p, `["`); i >= 0 {
			return p[:i]
		}
	}
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// childPath appends a mapping key to a path, quoting keys that are not
// plain identifiers so the path stays unambiguous: env.PORT,
// labels["com.example.team"].
func childPath(parent, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return fmt.Sprintf("%s[%q]", parent, key)
	case parent == "":
		return key
	default:
		return parent + "." + key
	}
}

// indexPath appends a list index to a path: services[1].
func indexPath(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }
