package config

import "time"

// Defaults that callers may want to show or reuse.
const (
	DefaultStateDir   = "/var/lib/hotswap"
	DefaultSocketName = "hotswap.sock" // under StateDir
)

// Default returns a Config holding every top-level default and no
// services: the starting point for a Config built in code.
func Default() *Config {
	c := &Config{}
	c.setDefaults()
	return c
}

// DefaultService returns a Service holding every default, for a Config
// built in code. Runtime blocks are not included; DefaultDocker gives the
// Docker defaults.
func DefaultService() Service {
	var s Service
	s.setDefaults()
	return s
}

// DefaultDocker returns a Docker block holding every default.
func DefaultDocker() *Docker {
	d := &Docker{}
	d.setDefaults()
	return d
}

func (c *Config) setDefaults() {
	c.StateDir = DefaultStateDir
	c.Proxy = Proxy{
		Listen:                ":8080",
		HealthPath:            "/_hotswap/up",
		ReadHeaderTimeout:     10 * time.Second,
		IdleTimeout:           120 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		SendTimeout:           60 * time.Second,
		ClientBodyTimeout:     60 * time.Second,
		RequestBuffer:         64 << 10,
		ReadyPath:             "/_hotswap/ready",
		RequestID:             true,
	}
	c.Control.Metrics = true
	c.Control.AuditMaxAge = 90 * 24 * time.Hour
	c.Control.AuditMaxRows = 100_000
	c.Dashboard.SessionTTL = 12 * time.Hour
	c.Dashboard.LinkTTL = 24 * time.Hour
	c.Webhooks.MaxBody = 1 << 20
}

func (s *Service) setDefaults() {
	s.Health = Health{
		Path:             "/health",
		Interval:         time.Second,
		StartInterval:    100 * time.Millisecond,
		Timeout:          2 * time.Second,
		HealthyThreshold: 3,
		Deadline:         60 * time.Second,
	}
	s.DrainTimeout = 30 * time.Second
	s.StopGrace = 10 * time.Second
	s.WarmFor = 10 * time.Minute
	s.Hooks.Timeout = 5 * time.Minute
	s.Strategy = StrategyBlueGreen
	s.Preview = Preview{Header: "X-Hotswap-Preview", Cookie: "hotswap_preview"}
}

func (d *Docker) setDefaults() {
	d.StopSignal = "SIGTERM"
	d.Network = "hotswap"
	d.Reach = ReachAuto
	d.KeepImages = 5
}

func (c *Canary) setDefaults() { c.StickyCookie = "hotswap_canary" }

func (a *Analysis) setDefaults() {
	a.Interval = 10 * time.Second
	a.MinRequests = 50
	a.MaxErrorRate = 0.05
	a.MaxErrorRateDelta = 0.02
}

func (t *Token) setDefaults() { t.Role = RoleDeployer }

func (g *GenericWebhook) setDefaults() { g.Window = 5 * time.Minute }

func (n *Notify) setDefaults() { n.Events = append([]string(nil), NotifyEvents...) }
