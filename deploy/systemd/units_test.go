// Package systemd holds the systemd units hotswap ships; this test keeps
// README's copies of them identical to the files.
package systemd

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEShowsTheShippedUnits: every unit file here appears verbatim in
// README.md as an ini block, so what people copy is what is tested and
// shipped.
func TestREADMEShowsTheShippedUnits(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hotswap.service", "hotswap.socket"} {
		unit, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(readme), "```ini\n"+string(unit)+"```") {
			t.Errorf("README.md does not show deploy/systemd/%s as it is; copy the file into its ini block", name)
		}
	}
}
