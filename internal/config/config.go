// Package config reads hotswap's YAML configuration file, fills in defaults
// and validates it, so that the daemon starts only from a config that makes
// sense as a whole, and a user who got it wrong is told exactly where.
//
// Every problem names the file, line, column and key path at fault, for
// example
//
//	hotswap.yaml:14:7: services[1].health.interval: invalid duration "5x" (want e.g. 2s, 500ms)
//
// and all problems are reported at once (as Errors), not just the first.
// Unknown keys are errors, with a suggestion when one is close, so a typo
// never silently falls back to a default.
//
// The doc comments on the fields below are the user reference: each says
// the YAML key, its unit, its default and its effect. testdata/full.yaml is
// an example that sets every key.
//
// File conventions:
//   - Durations are Go durations: 500ms, 2s, 1m30s, 1h. A bare 0 means zero.
//   - Sizes are bytes, or a number with a unit: 512k, 512m, 1g, 1MiB, 1.5GB.
//     Every unit is a power of 1024, as with docker run --memory.
//   - Secrets are never written inline by preference: each secret key X
//     also accepts X_env (the name of an environment variable, read when
//     the file is loaded) and X_file (a file holding the secret, trailing
//     whitespace removed). Exactly one of X, X_env, X_file may be set.
//   - Relative paths are relative to the directory holding the config file,
//     not to the daemon's working directory.
//   - YAML anchors, aliases and merge keys (<<: *base) work, and any key
//     beginning with "x-" is ignored, so shared blocks can live in e.g.
//     x-defaults: &defaults.
package config

import (
	"time"
)

// Config is one daemon's whole configuration. Get one from Load or Parse,
// which apply defaults and validate; a Config built in code should start
// from Default and be checked with Validate.
type Config struct {
	// StateDir (state_dir) holds the SQLite database, instance logs and the
	// control socket. Created if missing. Default /var/lib/hotswap.
	StateDir string `yaml:"state_dir"`

	// Proxy (proxy) is the traffic plane: the one stable address users hit.
	Proxy Proxy `yaml:"proxy"`

	// Control (control) is how the CLI, CI and monitoring talk to the daemon.
	Control Control `yaml:"control"`

	// Services (services) are the applications hotswap deploys. At least
	// one is required.
	Services []Service `yaml:"services"`

	// Webhooks (webhooks) lets CI systems and registries trigger deploys.
	// Every block is optional; an absent block disables that webhook.
	// Webhooks arrive on control.listen, so using any requires it.
	Webhooks Webhooks `yaml:"webhooks"`

	// Notify (notify) lists where deploy events are announced.
	Notify []Notify `yaml:"notify"`

	// Dashboard (dashboard) is the web dashboard, served on control.listen
	// under /ui/. Off by default.
	Dashboard Dashboard `yaml:"dashboard"`

	// file is the name given to Parse, for error messages.
	file string
	// pos maps key paths to where they were written, so Validate can point
	// at the line. Owned by the Config; nil for a Config built in code.
	pos map[string]Pos
}

// Proxy configures the reverse proxy that owns the public port.
type Proxy struct {
	// Listen (proxy.listen) is the address the proxy serves on, host:port;
	// an empty host means every interface. It never changes across deploys.
	// Default ":8080".
	Listen string `yaml:"listen"`

	// HealthPath (proxy.health_path) is answered by the proxy itself with
	// 200 while the daemon runs: pure liveness, whatever the services'
	// state (use it to restart a hung daemon; route traffic by ready_path).
	// It is served for every host and shadows an app path of the same
	// name, so pick one no app uses. It is always served ("" means the
	// default). Default "/_hotswap/up".
	HealthPath string `yaml:"health_path"`

	// ReadHeaderTimeout (proxy.read_header_timeout) bounds how long a client
	// may take to send its request headers (slow-client protection).
	// Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`

	// IdleTimeout (proxy.idle_timeout) closes client keep-alive connections
	// idle for longer between requests. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`

	// ResponseHeaderTimeout (proxy.response_header_timeout) is how long a
	// backend may take to start answering a request before the client gets
	// a 504. Streaming bodies are not limited by it. Default 60s.
	ResponseHeaderTimeout time.Duration `yaml:"response_header_timeout"`

	// SendTimeout (proxy.send_timeout) is how long one write of a response
	// to a client may wait for the client to read (slow-client
	// protection): a client that reads nothing for this long is
	// disconnected and the backend connection released. It bounds each
	// write, not the whole response, so long downloads and streams are
	// fine. Default 60s.
	SendTimeout time.Duration `yaml:"send_timeout"`

	// ClientBodyTimeout (proxy.client_body_timeout) is how long the proxy
	// waits for the next piece of a request body; a client that stops
	// sending gets 400 and is disconnected. Default 60s.
	ClientBodyTimeout time.Duration `yaml:"client_body_timeout"`

	// RequestBuffer (proxy.request_buffer) is the largest request body the
	// proxy reads whole before it picks a version and takes a backend
	// connection, so clients that trickle small uploads cost the app
	// nothing. Larger bodies stream through. A size, e.g. 64k; 0 turns
	// buffering off. Default 64k.
	RequestBuffer ByteSize `yaml:"request_buffer"`

	// ReadyPath (proxy.ready_path) is answered by the proxy itself with 200
	// only while every service in ready_services has a live version that
	// the proxy could reach at its last attempt, and 503 (listing those
	// that have none) otherwise. Give THIS path to a
	// load balancer that decides where to send traffic; health_path only
	// says the process runs. Served for every host; "" turns it off.
	// Default "/_hotswap/ready".
	ReadyPath string `yaml:"ready_path"`

	// AccessLog (proxy.access_log) writes one JSON line per request (time,
	// host, method, path, status, bytes, duration_ms, service, version,
	// request_id, remote) to this file (appended, created 0640) or to
	// "stdout". Default "" (off).
	AccessLog string `yaml:"access_log"`

	// RequestID (proxy.request_id) gives every request an X-Request-Id,
	// sent to the app and returned to the client: the client's own when it
	// is a sane token (1-128 of A-Z a-z 0-9 - _ . : + / =), else a random
	// one. Default true.
	RequestID bool `yaml:"request_id"`

	// ReadyServices (proxy.ready_services) names the services ready_path
	// requires to have a live version. Default: every configured service.
	ReadyServices []string `yaml:"ready_services"`

	// TLS (proxy.tls) adds an HTTPS listener (HTTP/1.1 and HTTP/2, HTTP/3
	// optionally) serving the same services. Omit for HTTP only.
	TLS *TLS `yaml:"tls"`
}

// Control configures the control API used by the CLI, CI and monitoring.
type Control struct {
	// Socket (control.socket) is the unix socket the CLI uses, created with
	// mode 0600 so only the daemon's user (and root) may deploy.
	// Default <state_dir>/hotswap.sock.
	Socket string `yaml:"socket"`

	// SocketGroup (control.socket_group) is a group (name or numeric ID)
	// whose members may use the control socket: the socket then gets mode
	// 0660 and that group. The actor recorded for each command is the
	// connecting user (from the socket's peer credentials). Default ""
	// (mode 0600: the daemon's user and root only).
	SocketGroup string `yaml:"socket_group"`

	// AuditMaxAge (control.audit_max_age) is how long audit entries are
	// kept; older ones are deleted. Default 2160h (90 days).
	AuditMaxAge time.Duration `yaml:"audit_max_age"`

	// AuditMaxRows (control.audit_max_rows) is how many audit entries are
	// kept at most, the newest; each entry is at most about 5 KiB, so the
	// default 100000 bounds the audit log near 500 MiB in the worst case.
	AuditMaxRows int `yaml:"audit_max_rows"`

	// Listen (control.listen) optionally serves the API, webhooks and
	// metrics over TCP, e.g. "127.0.0.1:9090". Every API request there needs
	// a bearer token from tokens, so at least one is then required. No TLS:
	// put it behind a TLS-terminating proxy if it leaves the machine.
	// Default "" (no TCP listener).
	Listen string `yaml:"listen"`

	// Tokens (control.tokens) are the bearer tokens accepted on Listen. The
	// token's name is recorded in the audit log of everything it does.
	// Only meaningful, and only allowed, with Listen.
	Tokens []Token `yaml:"tokens"`

	// Metrics (control.metrics) serves Prometheus metrics at /metrics on
	// Listen (token required, like the API). Ignored without Listen.
	// Default true.
	Metrics bool `yaml:"metrics"`
}

// Token is one named bearer token for the TCP control listener.
type Token struct {
	// Name (name) identifies the token's holder in the audit log, e.g. "ci".
	// Required, unique; letters, digits, "-" and "_".
	Name string `yaml:"name"`

	// Token (token, token_env or token_file) is the secret itself, at least
	// 16 characters (generate one with `openssl rand -hex 32`). Prefer
	// token_env or token_file: an inline token ends up in backups and
	// version control. Required.
	Token Secret `yaml:"token,secret"`

	// Role (role) is what the token may do, on the API and the dashboard:
	// "viewer" may only read (GET); any other request is refused with 403
	// and audited. "deployer" may also deploy, roll back, promote, abort and
	// prune. Default "deployer", so configs written before roles existed
	// keep working.
	Role Role `yaml:"role"`
}

// Role is what a control token may do.
type Role string

// Token roles.
const (
	RoleViewer   Role = "viewer"   // read only
	RoleDeployer Role = "deployer" // read and act
)

// Dashboard configures the web dashboard. It is served on control.listen
// under /ui/, so it needs control.listen and logs in with control.tokens.
// That listener speaks plain HTTP: put a TLS-terminating proxy in front of
// it (or bind it to loopback) before people log in over a network.
type Dashboard struct {
	// Enabled (dashboard.enabled) serves the dashboard at /ui/ on
	// control.listen. Requires control.listen. Default false.
	Enabled bool `yaml:"enabled"`

	// PublicURL (dashboard.public_url) is the dashboard's address as people
	// reach it, e.g. "https://deploy.example.com/ui/". It is used to build
	// the signed rollback links in notifications (none are sent without it)
	// and to accept that origin on actions. An https URL also marks the
	// session cookie Secure behind a TLS-terminating proxy. Default "".
	PublicURL string `yaml:"public_url"`

	// CommitURL (dashboard.commit_url) turns a release's commit into a link:
	// "{commit}" is replaced by the commit, e.g.
	// "https://github.com/org/repo/commit/{commit}". Must be http or https.
	// Default "" (commits shown as text).
	CommitURL string `yaml:"commit_url"`

	// SessionTTL (dashboard.session_ttl) is how long a login lasts; the
	// session is then forgotten and the user logs in again. Duration.
	// Default 12h.
	SessionTTL time.Duration `yaml:"session_ttl"`

	// LinkTTL (dashboard.link_ttl) is how long a rollback link in a
	// notification stays valid. Duration. Default 24h.
	LinkTTL time.Duration `yaml:"link_ttl"`
}

// Webhooks configures inbound CI and registry webhooks. At the top level it
// applies to every service; under services[].webhooks a block replaces the
// top-level block of the same name for that service (see WebhooksFor).
type Webhooks struct {
	// GitHub (webhooks.github) accepts GitHub webhook deliveries, verified
	// with their X-Hub-Signature-256 header.
	GitHub *GitHubWebhook `yaml:"github"`

	// Generic (webhooks.generic) accepts deploy requests from any CI
	// system, signed with an HMAC of a timestamp and the body.
	Generic *GenericWebhook `yaml:"generic"`

	// DockerHub (webhooks.dockerhub) accepts Docker Hub push notifications.
	// Docker Hub cannot sign requests, so the URL carries a secret token.
	DockerHub *DockerHubWebhook `yaml:"dockerhub"`

	// MaxBody (webhooks.max_body) is the largest webhook body read; larger
	// requests get 413. Size. Default 1MiB (top level); under a service,
	// default: the top-level value.
	MaxBody ByteSize `yaml:"max_body"`
}

// GitHubWebhook verifies GitHub's webhook signatures.
type GitHubWebhook struct {
	// Secret (secret, secret_env or secret_file) is the webhook secret set
	// in GitHub; at least 16 characters. Required.
	Secret Secret `yaml:"secret,secret"`
}

// GenericWebhook verifies signed requests from any CI system.
type GenericWebhook struct {
	// Secret (secret, secret_env or secret_file) is the shared HMAC key; at
	// least 16 characters. Required.
	Secret Secret `yaml:"secret,secret"`

	// Window (window) is how far a request's signed timestamp may be from
	// the daemon's clock; older or newer requests are refused as replays.
	// Default 5m.
	Window time.Duration `yaml:"window"`
}

// DockerHubWebhook authenticates Docker Hub pushes by a token in the URL
// path, since Docker Hub offers no signature.
type DockerHubWebhook struct {
	// PathToken (path_token, path_token_env or path_token_file) must appear
	// in the webhook URL path; at least 16 characters. Required.
	PathToken Secret `yaml:"path_token,secret"`
}

// NotifyKind selects the message format of a notification target.
type NotifyKind string

// Notification target kinds.
const (
	NotifySlack   NotifyKind = "slack"   // Slack incoming webhook
	NotifyDiscord NotifyKind = "discord" // Discord webhook
	NotifyWebhook NotifyKind = "webhook" // plain JSON POST
)

// NotifyEvents are the events a notification can subscribe to: the
// deploy events, and "certificate" for an HTTPS certificate that needs a
// person (renewal overdue, expiring or unloadable file).
var NotifyEvents = []string{"started", "succeeded", "failed", "rolled_back", "certificate"}

// Notify is one place deploy events are announced.
type Notify struct {
	// Kind (kind) is slack, discord or webhook (a JSON POST). Required.
	Kind NotifyKind `yaml:"kind"`

	// URL (url, url_env or url_file) is where messages are POSTed, http or
	// https. Chat webhook URLs are secrets: prefer url_env. Required.
	URL Secret `yaml:"url,secret"`

	// Events (events) selects which events are sent, from started,
	// succeeded, failed, rolled_back, certificate. Default: all of them.
	Events []string `yaml:"events"`
}

// Service returns the service called name, for the engine and API to look
// up what a request refers to.
func (c *Config) Service(name string) (*Service, bool) {
	for i := range c.Services {
		if c.Services[i].Name == name {
			return &c.Services[i], true
		}
	}
	return nil, false
}

// WebhooksFor returns the webhook settings in force for s: each of its own
// webhook blocks replaces the top-level block of the same name, and its
// max_body, when set, replaces the top-level one.
func (c *Config) WebhooksFor(s *Service) Webhooks {
	w := c.Webhooks
	if o := s.Webhooks; o != nil {
		if o.GitHub != nil {
			w.GitHub = o.GitHub
		}
		if o.Generic != nil {
			w.Generic = o.Generic
		}
		if o.DockerHub != nil {
			w.DockerHub = o.DockerHub
		}
		if o.MaxBody > 0 {
			w.MaxBody = o.MaxBody
		}
	}
	return w
}
