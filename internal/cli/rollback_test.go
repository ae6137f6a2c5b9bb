package cli

import (
	"testing"

	"github.com/hotswap/hotswap/internal/api"
)

// TestRollbackPickerDefault: the picker's default is the warm release when
// there is one, else the newest good (retired) one — never a release that
// was rolled back, even when it is the newest.
func TestRollbackPickerDefault(t *testing.T) {
	rel := func(v, state string) api.Release { return api.Release{Version: v, State: state} }
	tests := []struct {
		name string
		rels []api.Release // newest first
		want string        // "" = no default
	}{
		{"newest is rolled back", []api.Release{rel("v3", "live"), rel("v4", "rolled_back"), rel("v2", "retired"), rel("v1", "retired")}, "v2"},
		{"warm wins", []api.Release{rel("v5", "live"), rel("v4", "retired"), rel("v3", "warm")}, "v3"},
		{"failed ones are not offered", []api.Release{rel("v3", "live"), rel("v4", "failed"), rel("v2", "retired")}, "v2"},
		{"only bad ones", []api.Release{rel("v3", "live"), rel("v2", "rolled_back")}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			choices, def := rollbackChoices(tc.rels)
			got := ""
			if def >= 0 {
				got = choices[def].Version
			}
			if got != tc.want {
				t.Errorf("default %q, want %q (choices %v)", got, tc.want, choices)
			}
			for _, c := range choices {
				if c.State == "failed" || c.State == "live" {
					t.Errorf("offered %s %s", c.Version, c.State)
				}
			}
		})
	}
}
