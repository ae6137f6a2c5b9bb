package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"time"
)

// The edge protocol's paths.
const (
	PathPrepare = "/edge/v1/prepare"
	PathCommit  = "/edge/v1/commit"
	PathAbort   = "/edge/v1/abort"
	PathState   = "/edge/v1/state"
	PathReady   = "/ready"
)

// maxBody bounds every request and response body of the protocol.
const maxBody = 1 << 20

// Limits on a generation, so a hostile body cannot make an edge probe
// without end.
const (
	maxRoutes    = 256
	maxEndpoints = 64
)

// Generation is the routing of the whole cluster at one point: numbered,
// strictly increasing, decided by the leader.
type Generation struct {
	// Number is the generation number; 0 means "none yet".
	Number uint64 `json:"generation"`
	// Routes are the services and what serves them, one per service.
	Routes []Route `json:"routes"`
}

// Route is one service's live version and its endpoints.
type Route struct {
	// Service is the hotswap service name.
	Service string `json:"service"`
	// Version is the live version (shown in X-Hotswap-Version).
	Version string `json:"version"`
	// Release is the release ID the version belongs to.
	Release int64 `json:"release"`
	// Endpoints are "host:port" of every task that serves the version.
	Endpoints []string `json:"endpoints"`
	// HealthPath is what an edge GETs on each endpoint at PREPARE; any
	// 2xx is healthy. Must start with "/".
	HealthPath string `json:"health_path"`
}

// PrepareReply is an edge's answer to PREPARE.
type PrepareReply struct {
	Edge   string `json:"edge"`
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

// CommitRequest names the generation to commit (or abort).
type CommitRequest struct {
	Number uint64 `json:"generation"`
}

// CommitReply is an edge's acknowledgement of COMMIT: when it switched,
// by its own clock.
type CommitReply struct {
	Edge   string    `json:"edge"`
	Number uint64    `json:"generation"`
	At     time.Time `json:"at"`
}

// State is what an edge reports about itself.
type State struct {
	Edge      string `json:"edge"`
	Committed uint64 `json:"committed"`
	Prepared  uint64 `json:"prepared,omitempty"`
	// Lagging: a prepared generation has waited longer than LagGrace for
	// its COMMIT or ABORT.
	Lagging bool `json:"lagging"`
}

var serviceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// Validate checks a generation an edge is asked to serve: what a hostile or
// broken leader could send. It names the first problem.
func (g Generation) Validate() error {
	if g.Number == 0 {
		return errors.New("generation number 0")
	}
	if len(g.Routes) > maxRoutes {
		return fmt.Errorf("%d routes: at most %d", len(g.Routes), maxRoutes)
	}
	seen := map[string]bool{}
	for i, r := range g.Routes {
		if !serviceRE.MatchString(r.Service) {
			return fmt.Errorf("route %d: service %q: letters, digits, '.', '_', '-'", i, r.Service)
		}
		if seen[r.Service] {
			return fmt.Errorf("route %d: service %s twice", i, r.Service)
		}
		seen[r.Service] = true
		if r.Version == "" || len(r.Version) > 200 || strings.ContainsAny(r.Version, "\r\n\x00") {
			return fmt.Errorf("service %s: bad version %q", r.Service, r.Version)
		}
		if !strings.HasPrefix(r.HealthPath, "/") || len(r.HealthPath) > 1024 || strings.ContainsAny(r.HealthPath, " \r\n\x00#") {
			return fmt.Errorf("service %s: health path %q must start with / and hold no spaces", r.Service, r.HealthPath)
		}
		if len(r.Endpoints) == 0 || len(r.Endpoints) > maxEndpoints {
			return fmt.Errorf("service %s: %d endpoints: want 1 to %d", r.Service, len(r.Endpoints), maxEndpoints)
		}
		for _, ep := range r.Endpoints {
			host, port, err := net.SplitHostPort(ep)
			if err != nil || host == "" || port == "" || strings.ContainsAny(ep, "/@?#") {
				return fmt.Errorf("service %s: endpoint %q is not host:port", r.Service, ep)
			}
		}
	}
	return nil
}

// decodeStrict reads one JSON value of at most maxBody bytes into v,
// refusing unknown fields and trailing data.
func decodeStrict(r io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(data) > maxBody {
		return fmt.Errorf("body larger than %d bytes", maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	if dec.More() {
		return errors.New("decode body: trailing data")
	}
	return nil
}

// DecodeGeneration parses and validates a generation from untrusted bytes
// (a request body, a state file).
func DecodeGeneration(r io.Reader) (Generation, error) {
	var g Generation
	if err := decodeStrict(r, &g); err != nil {
		return Generation{}, err
	}
	if err := g.Validate(); err != nil {
		return Generation{}, fmt.Errorf("generation %d: %w", g.Number, err)
	}
	return g, nil
}
