package sampleapp

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzReadFrame: the sample app's WebSocket frame reader takes any bytes a
// client sends without panicking or allocating beyond what it accepts, and
// reads back what WriteFrame wrote, masked or not.
func FuzzReadFrame(f *testing.F) {
	for _, seed := range [][]byte{{0x81, 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1}, {0x88, 0}, {0x81, 126, 0xff, 0xff}, {0x82, 127}} {
		f.Add(seed, []byte("payload"), true)
	}
	f.Fuzz(func(t *testing.T, raw, payload []byte, masked bool) {
		if _, p, err := ReadFrame(bufio.NewReader(bytes.NewReader(raw))); err == nil && len(p) > 0xffff {
			t.Fatalf("accepted a %d-byte payload", len(p))
		}
		if len(payload) > 0xffff {
			return
		}
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		var mask []byte
		if masked {
			mask = []byte{9, 8, 7, 6}
		}
		if err := WriteFrame(bw, 2, payload, mask); err != nil || bw.Flush() != nil {
			t.Fatal(err)
		}
		op, got, err := ReadFrame(bufio.NewReader(&buf))
		if err != nil || op != 2 || !bytes.Equal(got, payload) {
			t.Fatalf("round trip: op %d, %q, %v; want %q", op, got, err, payload)
		}
	})
}
