package edge

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// Config is an edge's config file (`hotswap edge -c edge.yaml`): small on
// purpose, since an edge decides nothing. Unknown keys are errors.
type Config struct {
	// Name (key "name") identifies the edge to the leader. Required; the
	// leader's edge list uses the same name.
	Name string `yaml:"name"`
	// Listen (key "listen") is the traffic listener the load balancer
	// targets, host:port. Default ":8080".
	Listen string `yaml:"listen"`
	// Control (key "control") is the listener for the leader's PREPARE,
	// COMMIT and ABORT and the load balancer's GET /ready, host:port.
	// Required. Keep it on the cluster's private network.
	Control string `yaml:"control"`
	// NodeAddress (key "node_address") is this node's address on the
	// cluster network; endpoints on it are preferred. Optional.
	NodeAddress string `yaml:"node_address"`
	// TokenFile (key "token_file") holds the leader's bearer token (one
	// line). Required unless env HOTSWAP_EDGE_TOKEN is set.
	TokenFile string `yaml:"token_file"`
	// StateFile (key "state_file") keeps the last committed generation.
	// Required.
	StateFile string `yaml:"state_file"`
	// ProbeTimeout (key "probe_timeout", a Go duration) bounds the health
	// probes of one PREPARE. Default 5s.
	ProbeTimeout string `yaml:"probe_timeout"`
	// LagGrace (key "lag_grace", a Go duration) is how long a prepared
	// generation may wait for its COMMIT before /ready answers 503. Default
	// 10s.
	LagGrace string `yaml:"lag_grace"`
	// WatchInterval (key "watch_interval", a Go duration) is how often the
	// edge checks that each service's endpoint still answers, moving to
	// another endpoint of the same version when it does not. Default 1s.
	WatchInterval string `yaml:"watch_interval"`
	// Services (key "services") are the routes this edge serves: name,
	// hosts, path_prefix, strip_prefix, as in the daemon's config. At least
	// one.
	Services []ServiceConfig `yaml:"services"`

	probeTimeout, lagGrace, watchInterval time.Duration
}

// ServiceConfig is one service's routing on an edge.
type ServiceConfig struct {
	// Name (key "name") is the service, as the leader names it. Required.
	Name string `yaml:"name"`
	// Hosts (key "hosts") are the Host names routed to it; "*" for any.
	// Default ["*"].
	Hosts []string `yaml:"hosts"`
	// PathPrefix (key "path_prefix") routes only paths under it. Default "/".
	PathPrefix string `yaml:"path_prefix"`
	// StripPrefix (key "strip_prefix") removes PathPrefix before forwarding.
	StripPrefix bool `yaml:"strip_prefix"`
}

// ParseConfig decodes and validates an edge config from untrusted bytes,
// naming the first problem.
func ParseConfig(data []byte) (c Config, err error) {
	// goccy/go-yaml v1.19.2 panics on some malformed input (a tagged
	// scalar where a sequence belongs: testdata/fuzz/FuzzParseConfig): a
	// bad file must be an error, never a crash.
	defer func() {
		if r := recover(); r != nil {
			c, err = Config{}, fmt.Errorf("edge config: malformed YAML (%v)", r)
		}
	}()
	if err := yaml.UnmarshalWithOptions(data, &c, yaml.DisallowUnknownField()); err != nil {
		return Config{}, fmt.Errorf("edge config: %w", err)
	}
	if err := c.validate(); err != nil {
		return Config{}, fmt.Errorf("edge config: %w", err)
	}
	return c, nil
}

// LoadConfig reads and parses the edge config at path.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("edge config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func (c *Config) validate() error {
	if !serviceRE.MatchString(c.Name) {
		return fmt.Errorf("name %q: letters, digits, '.', '_', '-'", c.Name)
	}
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	for key, addr := range map[string]string{"listen": c.Listen, "control": c.Control} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q: want host:port", key, addr)
		}
	}
	if c.StateFile == "" {
		return errors.New("state_file is required")
	}
	var err error
	if c.probeTimeout, err = duration("probe_timeout", c.ProbeTimeout, 5*time.Second); err != nil {
		return err
	}
	if c.lagGrace, err = duration("lag_grace", c.LagGrace, 10*time.Second); err != nil {
		return err
	}
	if c.watchInterval, err = duration("watch_interval", c.WatchInterval, time.Second); err != nil {
		return err
	}
	if len(c.Services) == 0 {
		return errors.New("services: at least one")
	}
	seen := map[string]bool{}
	for i := range c.Services {
		s := &c.Services[i]
		if !serviceRE.MatchString(s.Name) || seen[s.Name] {
			return fmt.Errorf("services[%d]: name %q missing, malformed or repeated", i, s.Name)
		}
		seen[s.Name] = true
		if len(s.Hosts) == 0 {
			s.Hosts = []string{"*"}
		}
		if s.PathPrefix == "" {
			s.PathPrefix = "/"
		}
	}
	return nil
}

func duration(key, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > time.Hour {
		return 0, fmt.Errorf("%s %q: want a positive Go duration up to 1h (\"5s\")", key, s)
	}
	return d, nil
}

// Token returns the bearer token: env HOTSWAP_EDGE_TOKEN, else the first
// line of TokenFile. An empty token is an error.
func (c Config) Token() (string, error) {
	if t := os.Getenv("HOTSWAP_EDGE_TOKEN"); t != "" {
		return t, nil
	}
	if c.TokenFile == "" {
		return "", errors.New("edge config: token_file is required (or env HOTSWAP_EDGE_TOKEN)")
	}
	data, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("edge token: %w", err)
	}
	t, _, _ := strings.Cut(string(data), "\n")
	t = strings.TrimSpace(t)
	if t == "" {
		return "", fmt.Errorf("edge token: %s is empty", c.TokenFile)
	}
	return t, nil
}

// ServerConfig turns the file's settings into the edge server's.
func (c Config) ServerConfig(token string, table Table) ServerConfig {
	return ServerConfig{
		Name: c.Name, Token: token, StateFile: c.StateFile, Table: table,
		ProbeTimeout: c.probeTimeout, LagGrace: c.lagGrace,
	}
}

// Interval is the endpoint watch interval (WatchInterval, default 1s).
func (c Config) Interval() time.Duration { return c.watchInterval }
