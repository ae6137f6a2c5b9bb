package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metric descriptions. Every series is labelled by service and version so a
// deploy can be watched version against version.
var (
	descRequests = prometheus.NewDesc("hotswap_requests_total",
		"Requests finished by a version, by status class as the client saw it (proxy 502/504 included).",
		[]string{"service", "version", "code"}, nil)
	descUpstreamErrors = prometheus.NewDesc("hotswap_upstream_errors_total",
		"Attempts that got no usable response from a version: refused or failed connections, resets, timeouts.",
		[]string{"service", "version"}, nil)
	descDuration = prometheus.NewDesc("hotswap_request_duration_seconds",
		"Time from picking a version until its response headers arrived.",
		[]string{"service", "version"}, nil)
	descClientErrors = prometheus.NewDesc("hotswap_client_errors_total",
		"Requests of a service that failed because of their client (malformed or broken-off body, body timeout, client gone); kept out of every version's figures.",
		[]string{"service"}, nil)
	descInflight = prometheus.NewDesc("hotswap_inflight",
		"Requests, streams and upgraded connections a version is serving now.",
		[]string{"service", "version"}, nil)
)

var codeClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Collector returns a prometheus.Collector over every service's current
// and recently drained targets. Counts are read from the targets' atomics
// at scrape time, so the request path pays nothing for metrics. Targets of
// one service that share a version (a redeploy of the same version) are
// summed into one series.
func (p *Proxy) Collector() prometheus.Collector { return collector{p} }

type collector struct{ p *Proxy }

var _ prometheus.Collector = collector{}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRequests
	ch <- descUpstreamErrors
	ch <- descDuration
	ch <- descInflight
	ch <- descClientErrors
}

// versionTotals sums the targets of one service and version.
type versionTotals struct {
	stats    Stats
	inflight int64
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.p.servicesSnapshot() {
		ch <- prometheus.MustNewConstMetric(descClientErrors, prometheus.CounterValue, float64(s.ClientErrors()), s.name)
		var order []string
		byVersion := map[string]*versionTotals{}
		for _, t := range s.allTargets() {
			v := byVersion[t.version]
			if v == nil {
				v = &versionTotals{stats: Stats{Latency: Histogram{Bounds: latencyBounds[:], Counts: make([]uint64, numBuckets)}}}
				byVersion[t.version] = v
				order = append(order, t.version)
			}
			v.add(t)
		}
		for _, version := range order {
			v := byVersion[version]
			for i, n := range v.stats.Codes {
				ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n), s.name, version, codeClasses[i])
			}
			ch <- prometheus.MustNewConstMetric(descUpstreamErrors, prometheus.CounterValue, float64(v.stats.TransportErrors), s.name, version)
			ch <- prometheus.MustNewConstMetric(descInflight, prometheus.GaugeValue, float64(v.inflight), s.name, version)
			h := v.stats.Latency
			buckets := make(map[float64]uint64, len(h.Bounds))
			var cum uint64
			for i, b := range h.Bounds {
				cum += h.Counts[i]
				buckets[b.Seconds()] = cum
			}
			ch <- prometheus.MustNewConstHistogram(descDuration, h.Count, h.Sum.Seconds(), buckets, s.name, version)
		}
	}
}

func (v *versionTotals) add(t *Target) {
	st := t.Stats()
	v.inflight += t.InFlight()
	v.stats.Requests += st.Requests
	v.stats.TransportErrors += st.TransportErrors
	for i := range st.Codes {
		v.stats.Codes[i] += st.Codes[i]
	}
	for i := range st.Latency.Counts {
		v.stats.Latency.Counts[i] += st.Latency.Counts[i]
	}
	v.stats.Latency.Count += st.Latency.Count
	v.stats.Latency.Sum += st.Latency.Sum
}
