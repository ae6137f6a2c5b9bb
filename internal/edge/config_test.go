package edge

import (
	"strings"
	"testing"
)

// TestParseConfigErrors: each broken config names its problem.
func TestParseConfigErrors(t *testing.T) {
	base := "name: a\ncontrol: 127.0.0.1:9443\nstate_file: /tmp/x\nservices: [{name: web}]\n"
	if c, err := ParseConfig([]byte(base)); err != nil || c.Listen != ":8080" || c.Services[0].PathPrefix != "/" || c.Services[0].Hosts[0] != "*" {
		t.Fatalf("valid config: %+v, %v", c, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{base + "bogus: 1\n", "bogus"},
		{strings.Replace(base, "name: a", "name: ../a", 1), "name"},
		{strings.Replace(base, "127.0.0.1:9443", "nowhere", 1), "control"},
		{strings.Replace(base, "state_file: /tmp/x\n", "", 1), "state_file"},
		{base + "lag_grace: soon\n", "lag_grace"},
		{base + "probe_timeout: -1s\n", "probe_timeout"},
		{strings.Replace(base, "services: [{name: web}]", "services: [{name: web}, {name: web}]", 1), "services[1]"},
		{strings.Replace(base, "services: [{name: web}]", "services: []", 1), "services"},
	} {
		_, err := ParseConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: %v, want an error naming %q", tc.yaml, err, tc.want)
		}
	}
}

// FuzzParseConfig: any bytes give a config that validates, or an error.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("name: a\ncontrol: 127.0.0.1:9443\nstate_file: /tmp/x\nservices: [{name: web, hosts: [a.example], path_prefix: /api}]\n"))
	f.Add([]byte("name: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if c.Name == "" || c.StateFile == "" || len(c.Services) == 0 || c.probeTimeout <= 0 || c.lagGrace <= 0 {
			t.Fatalf("accepted an incomplete config: %+v", c)
		}
	})
}
