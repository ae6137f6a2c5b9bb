package config

import "time"

// RuntimeKind selects what runs a service's instances.
type RuntimeKind string

// Runtime kinds.
const (
	RuntimeProcess RuntimeKind = "process" // a local child process of the daemon
	RuntimeDocker  RuntimeKind = "docker"  // a container on the local Docker engine
)

// Strategy selects how traffic moves from the old version to the new one.
type Strategy string

// Deploy strategies.
const (
	// StrategyBlueGreen moves all traffic at once, after the new version is
	// healthy, keeping the old one warm for an instant rollback.
	StrategyBlueGreen Strategy = "bluegreen"
	// StrategyCanary moves traffic in weighted steps, judging each step.
	StrategyCanary Strategy = "canary"
)

// Reach says how the proxy reaches a container.
type Reach string

// Reach modes.
const (
	ReachAuto    Reach = "auto"    // the Docker runtime picks host or network to suit where the daemon runs
	ReachHost    Reach = "host"    // publish the port on 127.0.0.1 at a free host port
	ReachNetwork Reach = "network" // dial the container's address on Docker.Network
)

// Placeholders may appear in process.command, docker.command,
// docker.entrypoint, hooks.pre_traffic and env values; each start replaces
// them: {port} the port the instance must listen on, {version} the version
// deployed, {service} the service name, {release} the release number.
var Placeholders = []string{"{port}", "{version}", "{service}", "{release}"}

// Service is one application hotswap deploys, and how.
type Service struct {
	// Name (name) identifies the service in commands, the API, container
	// names and logs: lowercase letters, digits and "-", at most 63
	// characters, unique. Required.
	Name string `yaml:"name"`

	// Hosts (hosts) are the Host header values routed to this service,
	// lowercase, without port; "*.example.com" matches any one subdomain
	// label. Each host (with path_prefix) belongs to one service only.
	// Required.
	Hosts []string `yaml:"hosts"`

	// PathPrefix (path_prefix) narrows routing to request paths under it,
	// e.g. "/api": two services may share a host with different prefixes.
	// The prefix is passed to the app unchanged. Starts with "/", no
	// trailing "/". Default "" (every path).
	PathPrefix string `yaml:"path_prefix"`

	// Runtime (runtime) is process or docker; the block of the same name is
	// then required and the other one is forbidden. Required.
	Runtime RuntimeKind `yaml:"runtime"`

	// VersionPattern (version_pattern) is the regular expression every
	// version deployed must match, checked before anything else happens.
	// Default: internal/version.DefaultPattern (letters, digits, "._-",
	// optional leading "v", at most 128 characters).
	VersionPattern string `yaml:"version_pattern"`

	// Env (env) is extra environment for every instance and hook, applied
	// over the daemon's (process) or the image's (docker). Values may use
	// placeholders, e.g. PORT: "{port}".
	Env map[string]string `yaml:"env"`

	// Process (process) configures runtime: process.
	Process *Process `yaml:"process"`

	// Docker (docker) configures runtime: docker.
	Docker *Docker `yaml:"docker"`

	// Health (health) gates traffic on the new version and watches it after.
	Health Health `yaml:"health"`

	// DrainTimeout (drain_timeout) is how long requests already running on
	// the old version may take to finish after traffic moves away, before
	// it is stopped anyway. Default 30s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`

	// StopGrace (stop_grace) is how long an instance has to exit after its
	// stop signal before it is killed. Default 10s.
	StopGrace time.Duration `yaml:"stop_grace"`

	// WarmFor (warm_for) keeps the previous version running after a switch,
	// so a rollback within this time is a pointer flip with no start-up.
	// 0 stops it as soon as it has drained. Default 10m.
	WarmFor time.Duration `yaml:"warm_for"`

	// Hooks (hooks) run commands during a deploy.
	Hooks Hooks `yaml:"hooks"`

	// Strategy (strategy) is bluegreen (all traffic at once) or canary
	// (weighted steps, see canary). Default bluegreen.
	Strategy Strategy `yaml:"strategy"`

	// Canary (canary) configures strategy: canary, and is only allowed
	// with it.
	Canary *Canary `yaml:"canary"`

	// RedirectHTTP (redirect_http) answers plain-HTTP requests for this
	// service with a redirect to HTTPS (301 for GET and HEAD, 308 otherwise),
	// except ACME challenges and proxy.health_path. Needs proxy.tls.
	// Default false.
	RedirectHTTP bool `yaml:"redirect_http"`

	// Preview (preview) lets a tester reach the new version before it gets
	// traffic, by header or cookie.
	Preview Preview `yaml:"preview"`

	// Analysis (analysis) judges the new version on live traffic and rolls
	// back automatically when it does worse. Absent: only health checks
	// judge. An empty block (analysis: {}) enables it with defaults.
	Analysis *Analysis `yaml:"analysis"`

	// Webhooks (webhooks) overrides top-level webhook blocks for this
	// service; same keys as the top-level webhooks.
	Webhooks *Webhooks `yaml:"webhooks"`
}

// Argv is a command line as separate arguments; no shell ever sees it. In
// YAML it is a list, or a single string split on whitespace (no quoting:
// use the list form for an argument containing spaces).
type Argv []string

// Process configures the local-process runtime.
type Process struct {
	// Command (process.command) starts one instance: the program and its
	// arguments. Placeholders are replaced; {port} must appear here or in
	// env, or the app cannot know where to listen. Required.
	Command Argv `yaml:"command"`

	// Dir (process.dir) is the working directory of instances and hooks.
	// Default: the directory holding the config file.
	Dir string `yaml:"dir"`

	// LogMaxSize (process.log_max_size) is the size past which an
	// instance's output file (<state_dir>/logs/<service>/) is rotated:
	// copied to <file>.1 and truncated; checked every 5s. Size; default
	// 50MiB.
	LogMaxSize ByteSize `yaml:"log_max_size"`

	// LogKeep (process.log_keep) is how many rotated copies are kept.
	// Default 3.
	LogKeep int `yaml:"log_keep"`
}

// Docker configures the Docker runtime.
type Docker struct {
	// Image (docker.image) is the repository, without tag or digest: the
	// version deployed is the tag, e.g. ghcr.io/acme/web -> ghcr.io/acme/web:v2.
	// Required.
	Image string `yaml:"image"`

	// Port (docker.port) is the port the app listens on inside the
	// container. Required.
	Port int `yaml:"port"`

	// EnvFiles (docker.env_files) are files of KEY=value lines added to the
	// container's environment, read at each start (env wins on conflict).
	EnvFiles []string `yaml:"env_files"`

	// Volumes (docker.volumes) are mounts as in docker run -v:
	// "name-or-/host/path:/container/path[:ro]".
	Volumes []string `yaml:"volumes"`

	// Command (docker.command) replaces the image's CMD. Default: the image's.
	Command Argv `yaml:"command"`

	// Entrypoint (docker.entrypoint) replaces the image's ENTRYPOINT.
	// Default: the image's.
	Entrypoint Argv `yaml:"entrypoint"`

	// User (docker.user) runs the app as "user", "uid" or "uid:gid".
	// Default: the image's.
	User string `yaml:"user"`

	// Memory (docker.memory) is the container's memory limit; size, at
	// least 6m. Default 0 (no limit).
	Memory ByteSize `yaml:"memory"`

	// CPUs (docker.cpus) limits CPU time, in cores (1.5 = one and a half).
	// Default 0 (no limit).
	CPUs float64 `yaml:"cpus"`

	// StopSignal (docker.stop_signal) is sent to stop an instance, e.g.
	// SIGTERM, SIGINT, SIGQUIT. Default SIGTERM.
	StopSignal string `yaml:"stop_signal"`

	// Labels (docker.labels) are added to every container. Keys starting
	// with "hotswap." are reserved for hotswap's own bookkeeping.
	Labels map[string]string `yaml:"labels"`

	// Network (docker.network) is the Docker network containers join;
	// created if missing. Default "hotswap".
	Network string `yaml:"network"`

	// Reach (docker.reach) is how the proxy reaches containers: auto,
	// host (a published loopback port) or network (the container's address
	// on network). Default auto.
	Reach Reach `yaml:"reach"`

	// KeepImages (docker.keep_images) is how many of the service's most
	// recently deployed versions' images (and stopped containers) are kept
	// for rollbacks. Stopped containers beyond them are removed after each
	// deploy; images only by `hotswap prune`, which never removes a kept
	// one. 0 means the default, 5.
	KeepImages int `yaml:"keep_images"`

	// RegistryAuth (docker.registry_auth) logs in to the image's registry
	// for pulls. Default: anonymous pulls.
	RegistryAuth *RegistryAuth `yaml:"registry_auth"`

	// Pull (docker.pull) is when a deploy pulls the version's image:
	// always (a pushed tag is fetched again), missing (only when not
	// present locally: tags treated as immutable) or never (local images
	// only). Default: always for the tags in mutable_tags, missing for
	// every other version. Each deploy records the digest the tag resolved
	// to, and says so when it equals the live release's.
	Pull string `yaml:"pull"`

	// MutableTags (docker.mutable_tags) are the tags a registry push may
	// move, pulled on every deploy unless pull says otherwise. Default
	// [latest].
	MutableTags []string `yaml:"mutable_tags"`
}

// RegistryAuth is a registry login.
type RegistryAuth struct {
	// Username (username) is the registry user. Required.
	Username string `yaml:"username"`
	// Password (password, password_env or password_file) is the password or
	// access token. Required.
	Password Secret `yaml:"password,secret"`
}

// Health configures health checks: before a new version gets traffic (the
// gate) and while it serves (the watch).
type Health struct {
	// Path (health.path) is requested with GET; 2xx and 3xx pass. "" checks
	// only that the port accepts a TCP connection. Default "/health".
	Path string `yaml:"path"`

	// Interval (health.interval) is the time between probe starts of a
	// serving (live or warm) version; probes never overlap (a slow probe
	// delays the next). Default 1s.
	Interval time.Duration `yaml:"interval"`

	// StartInterval (health.start_interval) is the time between probe
	// starts while a new version is being judged, once its port has opened
	// (until then the port is tried every 20ms). Short, so a deploy takes
	// about as long as the app's own start-up. Default 100ms.
	StartInterval time.Duration `yaml:"start_interval"`

	// StartTimeout (health.start_timeout) is how long a new version has to
	// open its port after it starts; an app that never listens fails then
	// rather than at the deadline. Default 30s, or the deadline when that
	// is shorter; at most the deadline.
	StartTimeout time.Duration `yaml:"start_timeout"`

	// Timeout (health.timeout) bounds one probe; a probe that takes longer
	// fails. Default 2s.
	Timeout time.Duration `yaml:"timeout"`

	// HealthyThreshold (health.healthy_threshold) is how many consecutive
	// probes must pass before the version counts as healthy; any failure
	// starts the count again. While serving, as many consecutive failures
	// mark it unhealthy. Default 3.
	HealthyThreshold int `yaml:"healthy_threshold"`

	// Deadline (health.deadline) is the overall time a new version has to
	// become healthy after it starts; then the deploy fails and nothing
	// changes for users. Default 60s.
	Deadline time.Duration `yaml:"deadline"`
}

// Hooks configures commands run during a deploy.
type Hooks struct {
	// PreTraffic (hooks.pre_traffic) are commands run one after another, in
	// a one-off instance of the new version with the service's env, after
	// its artifact is ready and before the new version starts or gets any
	// traffic (migrations must suit the live version too). Each is an argv
	// (list, or string split on whitespace); placeholders are replaced.
	// A failure fails the deploy before users see the new version.
	PreTraffic []Argv `yaml:"pre_traffic"`

	// Timeout (hooks.timeout) bounds each hook. Default 5m.
	Timeout time.Duration `yaml:"timeout"`
}

// Canary configures gradual traffic shifting.
type Canary struct {
	// Steps (canary.steps) are the traffic percentages the new version gets
	// in turn, each held for its duration and judged by analysis; after the
	// last step it gets 100%. Weights are whole percents, 0 < weight < 100,
	// strictly increasing. Required.
	Steps []CanaryStep `yaml:"steps"`

	// ApprovalBeforeLast (canary.approval_before_last) pauses before moving
	// to 100% until someone runs `hotswap promote` (or the API call).
	// Default false.
	ApprovalBeforeLast bool `yaml:"approval_before_last"`

	// StickyCookie (canary.sticky_cookie) pins each client to the version it
	// first got during a canary, so a user does not flip between versions.
	// Default "hotswap_canary".
	StickyCookie string `yaml:"sticky_cookie"`
}

// CanaryStep is one canary traffic level.
type CanaryStep struct {
	// Weight (weight) is the percentage of requests sent to the new version.
	Weight int `yaml:"weight"`
	// Duration (duration) is how long the step lasts. Must be positive.
	Duration time.Duration `yaml:"duration"`
}

// Preview configures how a tester reaches a version that has no traffic
// yet (during a deploy, or a version kept warm).
type Preview struct {
	// Header (preview.header) is a request header whose value is the version
	// to reach. Default "X-Hotswap-Preview".
	Header string `yaml:"header"`
	// Cookie (preview.cookie) is a cookie whose value is the version to
	// reach. Default "hotswap_preview".
	Cookie string `yaml:"cookie"`
	// Secret (preview.secret, secret_env or secret_file) is the value the
	// header or cookie must carry to reach a held version (compared in
	// constant time); at least 16 characters. Default: none, and each
	// `deploy --hold` then generates a fresh random secret, printed by the
	// deploy and shown by `hotswap status` while the hold lasts. A held
	// version is never reachable without a secret.
	Secret Secret `yaml:"secret,secret"`
}

// Analysis configures automatic judgement of a new version on live traffic.
type Analysis struct {
	// Interval (analysis.interval) is how often the new version's metrics
	// are judged. Default 10s.
	Interval time.Duration `yaml:"interval"`

	// MinRequests (analysis.min_requests) is how many requests the new
	// version must have served in a window before it is judged, so a few
	// early errors cannot condemn it. Default 50.
	MinRequests int `yaml:"min_requests"`

	// MaxErrorRate (analysis.max_error_rate) is the highest fraction of 5xx
	// answers allowed, 0 to 1 (0.05 = 5%). Default 0.05.
	MaxErrorRate float64 `yaml:"max_error_rate"`

	// MaxErrorRateDelta (analysis.max_error_rate_delta) is how much the new
	// version's 5xx fraction may exceed the stable version's over the same
	// window, 0 to 1. Default 0.02.
	MaxErrorRateDelta float64 `yaml:"max_error_rate_delta"`

	// MaxP95 (analysis.max_p95) is the highest 95th-percentile response
	// time allowed. Default 0 (not checked).
	MaxP95 time.Duration `yaml:"max_p95"`

	// Bake (analysis.bake) is how long a new version is watched after a
	// full switch (blue/green, or a canary's last step), while the old one
	// is still warm; a failure rolls back instantly. At most warm_for.
	// Default 0 (no bake).
	Bake time.Duration `yaml:"bake"`
}
