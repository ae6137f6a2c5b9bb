package config

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hotswap/hotswap/internal/version"
)

var (
	serviceNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	hostLabel     = `[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?`
	hostRE        = regexp.MustCompile(`^(\*\.)?` + hostLabel + `(\.` + hostLabel + `)*$`)
	placeholderRE = regexp.MustCompile(`\{[a-z_]+\}`)
	// httpTokenRE: the characters RFC 9110 allows in header and cookie names.
	httpTokenRE   = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
	imagePathRE   = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$`)
	registryRE    = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?$`)
	dockerNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	stopSignals   = []string{"SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGKILL"}
	maxNameLength = 63 // a DNS label; names end up in container and host names
)

func (s *Service) validate(p *problems, path string) {
	switch {
	case s.Name == "":
		p.add(path+".name", "required")
	case len(s.Name) > maxNameLength || !serviceNameRE.MatchString(s.Name):
		p.add(path+".name", "%q must be lowercase letters, digits and -, at most %d characters, not starting or ending with -", s.Name, maxNameLength)
	}
	if len(s.Hosts) == 0 {
		p.add(path+".hosts", "at least one host is required")
	}
	for i, h := range s.Hosts {
		hp := indexPath(path+".hosts", i)
		switch {
		case h != strings.ToLower(h):
			p.add(hp, "%q must be lowercase", h)
		case strings.Contains(h, ":"):
			p.add(hp, "%q: write the host without a port", h)
		case len(h) > 253 || !hostRE.MatchString(h):
			p.add(hp, "%q is not a host name", h)
		case slices.Index(s.Hosts, h) < i:
			p.add(hp, "%q is listed twice", h)
		}
	}
	if pp := s.PathPrefix; pp != "" {
		switch {
		case !strings.HasPrefix(pp, "/"):
			p.add(path+".path_prefix", "%q must start with /", pp)
		case pp == "/":
			p.add(path+".path_prefix", `"/" matches everything: leave path_prefix out instead`)
		case strings.HasSuffix(pp, "/"):
			p.add(path+".path_prefix", "%q: drop the trailing /", pp)
		case strings.ContainsAny(pp, "?# \t") || strings.Contains(pp, "//") || slices.Contains(strings.Split(pp, "/"), ".."):
			p.add(path+".path_prefix", "%q is not a clean URL path", pp)
		}
	}
	if _, err := version.Compile(s.VersionPattern); err != nil {
		p.add(path+".version_pattern", "%v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		v := s.Env[k]
		if !envNameRE.MatchString(k) {
			p.add(childPath(path+".env", k), "%q is not an environment variable name", k)
		}
		checkPlaceholders(p, childPath(path+".env", k), v)
	}

	switch s.Runtime {
	case RuntimeProcess:
		if s.Process == nil {
			p.add(path+".process", "required with runtime: process")
		}
		if s.Docker != nil {
			p.add(path+".docker", "not allowed with runtime: process")
		}
	case RuntimeDocker:
		if s.Docker == nil {
			p.add(path+".docker", "required with runtime: docker")
		}
		if s.Process != nil {
			p.add(path+".process", "not allowed with runtime: docker")
		}
	case "":
		p.add(path+".runtime", "required (process or docker)")
	default:
		p.add(path+".runtime", "%q is not one of process, docker", s.Runtime)
	}
	if s.Process != nil {
		s.validateProcess(p, path+".process")
	}
	if s.Docker != nil {
		s.Docker.validate(p, path+".docker")
	}

	s.Health.validate(p, path+".health")
	for i, argv := range s.Hooks.PreTraffic {
		checkArgv(p, indexPath(path+".hooks.pre_traffic", i), argv, true)
	}
	positive(p, path+".hooks.timeout", s.Hooks.Timeout)

	switch s.Strategy {
	case StrategyBlueGreen:
		if s.Canary != nil {
			p.add(path+".canary", "only allowed with strategy: canary")
		}
	case StrategyCanary:
		if s.Canary == nil || len(s.Canary.Steps) == 0 {
			p.add(path+".canary.steps", "required with strategy: canary, e.g. [{weight: 10, duration: 1m}, {weight: 50, duration: 2m}]")
		}
	default:
		p.add(path+".strategy", "%q is not one of bluegreen, canary", s.Strategy)
	}
	if s.Canary != nil {
		s.Canary.validate(p, path+".canary")
	}
	if !httpTokenRE.MatchString(s.Preview.Header) {
		p.add(path+".preview.header", "%q is not a valid header name", s.Preview.Header)
	}
	if !httpTokenRE.MatchString(s.Preview.Cookie) {
		p.add(path+".preview.cookie", "%q is not a valid cookie name", s.Preview.Cookie)
	}
	if s.Preview.Secret.IsSet() {
		checkSecret(p, path+".preview.secret", "secret", s.Preview.Secret, true)
	}
	if a := s.Analysis; a != nil {
		a.validate(p, path+".analysis")
		if a.Bake > s.WarmFor {
			p.add(path+".analysis.bake", "bake %s is longer than warm_for %s: the old version would be gone before the bake ends, so a failure could not roll back instantly", a.Bake, s.WarmFor)
		}
	}
}

func (s *Service) validateProcess(p *problems, path string) {
	if s.Process.LogMaxSize < 0 || (s.Process.LogMaxSize > 0 && s.Process.LogMaxSize < 64<<10) {
		p.add(path+".log_max_size", "%d bytes: at least 64KiB", s.Process.LogMaxSize)
	}
	if s.Process.LogKeep < 0 {
		p.add(path+".log_keep", "must not be negative")
	}
	checkArgv(p, path+".command", s.Process.Command, true)
	if len(s.Process.Command) == 0 {
		return
	}
	hasPort := slices.ContainsFunc(s.Process.Command, func(a string) bool { return strings.Contains(a, "{port}") })
	for _, v := range s.Env {
		hasPort = hasPort || strings.Contains(v, "{port}")
	}
	if !hasPort {
		p.add(path+".command", `{port} appears neither here nor in env, so the app cannot know which port to listen on (e.g. add --port {port}, or env: {PORT: "{port}"})`)
	}
}

func (d *Docker) validate(p *problems, path string) {
	checkImage(p, path+".image", d.Image)
	if d.Port < 1 || d.Port > 65535 {
		p.add(path+".port", "required: the port the app listens on inside the container (1-65535)")
	}
	for i, f := range d.EnvFiles {
		if f == "" {
			p.add(indexPath(path+".env_files", i), "empty file name")
		}
	}
	for i, v := range d.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") {
			p.add(indexPath(path+".volumes", i), "%q is not source:/container/path[:options]", v)
		}
	}
	checkArgv(p, path+".command", d.Command, false)
	checkArgv(p, path+".entrypoint", d.Entrypoint, false)
	if d.Memory != 0 && d.Memory < 6<<20 {
		p.add(path+".memory", "%s is below Docker's minimum of 6m", d.Memory)
	}
	if d.CPUs < 0 {
		p.add(path+".cpus", "must not be negative")
	}
	if !slices.Contains(stopSignals, d.StopSignal) {
		p.add(path+".stop_signal", "%q is not one of %s", d.StopSignal, strings.Join(stopSignals, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(d.Labels)) {
		switch {
		case k == "":
			p.add(path+".labels", "empty label key")
		case strings.HasPrefix(k, "hotswap."):
			p.add(childPath(path+".labels", k), "label keys starting with hotswap. are reserved")
		}
	}
	if !dockerNameRE.MatchString(d.Network) {
		p.add(path+".network", "%q is not a Docker network name", d.Network)
	}
	switch d.Reach {
	case ReachAuto, ReachHost, ReachNetwork:
	default:
		p.add(path+".reach", "%q is not one of auto, host, network", d.Reach)
	}
	if d.KeepImages < 0 {
		p.add(path+".keep_images", "must not be negative (0 keeps all)")
	}
	switch d.Pull {
	case "", "always", "missing", "never":
	default:
		p.add(path+".pull", "%q is not one of always, missing, never", d.Pull)
	}
	if a := d.RegistryAuth; a != nil {
		if a.Username == "" {
			p.add(path+".registry_auth.username", "required")
		}
		checkSecret(p, path+".registry_auth.password", "password", a.Password, false)
	}
}

// checkImage accepts a repository reference without tag or digest:
// [registry[:port]/]path/components.
func checkImage(p *problems, path, image string) {
	if image == "" {
		p.add(path, "required, e.g. ghcr.io/acme/web")
		return
	}
	if strings.Contains(image, "@") {
		p.add(path, "%q: leave out the digest; the version deployed picks the tag", image)
		return
	}
	parts := strings.Split(image, "/")
	if strings.Contains(parts[len(parts)-1], ":") {
		p.add(path, "%q: leave out the tag; the version deployed is the tag", image)
		return
	}
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		if !registryRE.MatchString(parts[0]) {
			p.add(path, "%q: %q is not a registry host", image, parts[0])
			return
		}
		parts = parts[1:]
	}
	for _, c := range parts {
		if !imagePathRE.MatchString(c) {
			p.add(path, "%q is not an image repository (lowercase letters, digits and . _ - between /)", image)
			return
		}
	}
}

func (h *Health) validate(p *problems, path string) {
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		p.add(path+".path", `%q must start with / (or be "" for a TCP check)`, h.Path)
	}
	positive(p, path+".interval", h.Interval)
	positive(p, path+".start_interval", h.StartInterval)
	if h.StartTimeout < 0 {
		p.add(path+".start_timeout", "%s: must not be negative", h.StartTimeout)
	}
	if h.Deadline > 0 && h.StartTimeout > h.Deadline {
		p.add(path+".start_timeout", "%s is longer than deadline %s", h.StartTimeout, h.Deadline)
	}
	positive(p, path+".timeout", h.Timeout)
	positive(p, path+".deadline", h.Deadline)
	if h.HealthyThreshold < 1 {
		p.add(path+".healthy_threshold", "must be at least 1")
	}
	if h.Deadline > 0 && h.Timeout > h.Deadline {
		p.add(path+".timeout", "%s is longer than deadline %s", h.Timeout, h.Deadline)
	}
	if h.Deadline > 0 && h.HealthyThreshold > 1 && h.StartInterval*time.Duration(h.HealthyThreshold-1) > h.Deadline {
		p.add(path+".deadline", "%s cannot fit %d consecutive passes %s (start_interval) apart", h.Deadline, h.HealthyThreshold, h.StartInterval)
	}
}

func (c *Canary) validate(p *problems, path string) {
	last := 0
	for i, st := range c.Steps {
		sp := indexPath(path+".steps", i)
		switch {
		case st.Weight <= 0 || st.Weight >= 100:
			p.add(sp+".weight", "%d: want a percentage above 0 and below 100 (100%% follows the last step)", st.Weight)
		case st.Weight <= last:
			p.add(sp+".weight", "%d: weights must increase (previous step: %d)", st.Weight, last)
		}
		last = max(last, st.Weight)
		positive(p, sp+".duration", st.Duration)
	}
	if !httpTokenRE.MatchString(c.StickyCookie) {
		p.add(path+".sticky_cookie", "%q is not a valid cookie name", c.StickyCookie)
	}
}

func (a *Analysis) validate(p *problems, path string) {
	positive(p, path+".interval", a.Interval)
	if a.MinRequests < 0 {
		p.add(path+".min_requests", "must not be negative")
	}
	if a.MaxErrorRate < 0 || a.MaxErrorRate > 1 {
		p.add(path+".max_error_rate", "%g: want a fraction from 0 to 1 (0.05 = 5%%)", a.MaxErrorRate)
	}
	if a.MaxErrorRateDelta < 0 || a.MaxErrorRateDelta > 1 {
		p.add(path+".max_error_rate_delta", "%g: want a fraction from 0 to 1 (0.02 = 2 points)", a.MaxErrorRateDelta)
	}
}

// checkArgv checks a command line's arguments and placeholders.
func checkArgv(p *problems, path string, argv Argv, required bool) {
	if required && len(argv) == 0 {
		p.add(path, "required: the program and its arguments")
		return
	}
	for i, a := range argv {
		if i == 0 && a == "" {
			p.add(indexPath(path, 0), "empty program name")
		}
		checkPlaceholders(p, indexPath(path, i), a)
	}
}

// checkPlaceholders catches misspelt placeholders ({prot}), which would
// otherwise reach the app literally.
func checkPlaceholders(p *problems, path, s string) {
	for _, m := range placeholderRE.FindAllString(s, -1) {
		if !slices.Contains(Placeholders, m) {
			p.add(path, "unknown placeholder %s (known: %s)", m, strings.Join(Placeholders, " "))
		}
	}
}

func positive(p *problems, path string, d time.Duration) {
	if d <= 0 {
		p.add(path, "must be positive")
	}
}
