package webhook

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on the free-text fields of a Request. They end up in the store,
// in logs and on terminals, so they are short and free of control
// characters (no terminal escapes, no forged log lines).
const (
	MaxNoteLen       = 1024
	MaxAuthorLen     = 128
	MaxCommitLen     = 128
	MaxDeliveryIDLen = 128
)

// cleanText makes s safe to store and print: valid UTF-8, control
// characters replaced by spaces, trimmed, cut to at most max bytes on a
// rune boundary.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimSpace(s[:cut])
}

// validDeliveryID reports whether id is usable as an idempotency key:
// empty (none), or at most MaxDeliveryIDLen of [A-Za-z0-9._:-]. GitHub's
// GUIDs and our derived ids fit.
func validDeliveryID(id string) bool {
	if len(id) > MaxDeliveryIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}
