package api

import (
	"time"

	"github.com/hotswap/hotswap/internal/deploy"
)

// The wire types of GET /v1/status and POST .../prune. Like every type in
// this package they are the API's own: snake_case keys, times in RFC 3339,
// durations in milliseconds (a _ms suffix says so). Engine and proxy
// structs never leave the process, so the engine can change without
// breaking scripts, CI or the dashboard.

// ServiceStatus is one service in GET /v1/status.
type ServiceStatus struct {
	Service    string         `json:"service"`
	Hosts      []string       `json:"hosts"`
	PathPrefix string         `json:"path_prefix,omitempty"`
	Live       *VersionStatus `json:"live,omitempty"` // absent: nothing serves (the proxy answers 503)
	Warm       *VersionStatus `json:"warm,omitempty"` // the previous version, still running for an instant rollback
	Active     *ActiveDeploy  `json:"active,omitempty"`
	Queued     int            `json:"queued"` // deploys waiting behind Active
	// ClientErrors counts requests that failed because of their client
	// (malformed or broken-off body, client timeout, client gone); they
	// are in no version's traffic figures and no analysis.
	ClientErrors uint64 `json:"client_errors"`
	// PreviewSecret reaches the version held for preview (deploy --hold)
	// through the preview header or cookie; absent when none is held.
	// Only authorised callers of the API see it.
	PreviewSecret string `json:"preview_secret,omitempty"`
}

// VersionStatus is one running version of a service.
type VersionStatus struct {
	Version  string    `json:"version"`
	Release  int64     `json:"release"`
	Addr     string    `json:"addr"`
	Since    time.Time `json:"since"`     // when it took this role (live, or warm)
	InFlight int64     `json:"in_flight"` // requests and streams being served now
	Health   Health    `json:"health"`
	Traffic  Traffic   `json:"traffic"`
}

// Health is the background health watcher's last verdict on an instance.
// Reading it never probes the instance.
type Health struct {
	Healthy bool      `json:"healthy"`
	Reason  string    `json:"reason,omitempty"` // the last failure, or what made it healthy
	Since   time.Time `json:"since,omitzero"`   // when the verdict last changed
	Checked time.Time `json:"checked,omitzero"` // the watcher's last probe (absent: none yet)
}

// Traffic counts what the proxy forwarded to one version since it got its
// target (latencies: until response headers, in milliseconds).
type Traffic struct {
	Requests        uint64  `json:"requests"`
	Responses1xx    uint64  `json:"responses_1xx"`
	Responses2xx    uint64  `json:"responses_2xx"`
	Responses3xx    uint64  `json:"responses_3xx"`
	Responses4xx    uint64  `json:"responses_4xx"`
	Responses5xx    uint64  `json:"responses_5xx"`
	TransportErrors uint64  `json:"transport_errors"`
	P50MS           float64 `json:"p50_ms"`
	P95MS           float64 `json:"p95_ms"`
	P99MS           float64 `json:"p99_ms"`
}

// ActiveDeploy is the deploy, rollback or config release in progress.
type ActiveDeploy struct {
	Release   int64     `json:"release"`
	Kind      string    `json:"kind"` // deploy | rollback | config
	Version   string    `json:"version"`
	Since     time.Time `json:"since"`
	ElapsedMS int64     `json:"elapsed_ms"`
}

// PruneResult answers POST /v1/services/{service}/prune.
type PruneResult struct {
	Service    string   `json:"service"`
	Kept       []string `json:"kept"`    // versions whose artifacts stay, newest first
	Removed    []string `json:"removed"` // image references removed
	FreedBytes int64    `json:"freed_bytes"`
}

func toStatus(in []deploy.Status) []ServiceStatus {
	out := make([]ServiceStatus, len(in))
	for i, s := range in {
		o := ServiceStatus{Service: s.Service, Hosts: s.Hosts, PathPrefix: s.PathPrefix, Queued: s.Queued,
			ClientErrors: s.ClientErrors, PreviewSecret: s.PreviewSecret,
			Live: toVersionStatus(s.Live), Warm: toVersionStatus(s.Warm)}
		if o.Hosts == nil {
			o.Hosts = []string{}
		}
		if a := s.Active; a != nil {
			o.Active = &ActiveDeploy{Release: a.Release, Kind: string(a.Kind), Version: a.Version, Since: a.Since,
				ElapsedMS: time.Since(a.Since).Milliseconds()}
		}
		out[i] = o
	}
	return out
}

func toVersionStatus(v *deploy.VersionStatus) *VersionStatus {
	if v == nil {
		return nil
	}
	t := v.Traffic
	return &VersionStatus{Version: v.Version, Release: v.Release, Addr: v.Addr, Since: v.Since, InFlight: v.InFlight,
		Health: Health{Healthy: v.Healthy, Reason: v.HealthReason, Since: v.HealthSince, Checked: v.HealthCheck},
		Traffic: Traffic{Requests: t.Requests, Responses1xx: t.Codes[0], Responses2xx: t.Codes[1], Responses3xx: t.Codes[2],
			Responses4xx: t.Codes[3], Responses5xx: t.Codes[4], TransportErrors: t.TransportErrors,
			P50MS: ms(t.Latency.Quantile(0.50)), P95MS: ms(t.Latency.Quantile(0.95)), P99MS: ms(t.Latency.Quantile(0.99))},
	}
}

func toPrune(p deploy.PruneResult) PruneResult {
	return PruneResult{Service: p.Service, Kept: nonNil(p.Kept), Removed: nonNil(p.Removed), FreedBytes: p.Freed}
}

// ms is a duration in milliseconds with microsecond precision.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
