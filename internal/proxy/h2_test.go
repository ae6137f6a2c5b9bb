package proxy

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// frontHTTP2, set only by TestOverHTTP2 while its subtests run (the
// package's tests are sequential), makes newFront serve the proxy over TLS
// with HTTP/2, as hotswap's HTTPS listener does.
var frontHTTP2 bool

// startFront serves p on a loopback port: plain HTTP/1.1, or TLS with
// HTTP/2 when frontHTTP2 is set, with a client transport to match.
func startFront(p *Proxy) (*httptest.Server, *http.Transport) {
	if !frontHTTP2 {
		return httptest.NewServer(p), &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "test front: want HTTP/2, got "+r.Proto, http.StatusHTTPVersionNotSupported)
			return
		}
		p.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DisableCompression = true
	tr.ForceAttemptHTTP2 = true
	tr.TLSClientConfig = &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs, NextProtos: []string{"h2"}}
	return srv, tr
}

// TestOverHTTP2 runs the proxy's behaviour tests again with clients on
// HTTP/2 (the upstream side stays HTTP/1.1): request and response bodies,
// drains of slow requests and streams, the drain deadline, switches under
// load, a departed client, timeouts, retries, routing, canary stickiness
// and previews must behave the same. Left out are the tests written in
// HTTP/1.1 itself: WebSockets (RFC 6455 upgrades are HTTP/1.1), a raw
// half-sent upload, and Connection-listed headers (HTTP/2 forbids them).
func TestOverHTTP2(t *testing.T) {
	frontHTTP2 = true
	t.Cleanup(func() { frontHTTP2 = false })
	for name, test := range map[string]func(*testing.T){
		"Bodies":                   TestBodies,
		"DrainWaitsForSlowRequest": TestDrainWaitsForSlowRequest, "DrainWaitsForSSE": TestDrainWaitsForSSE,
		"DrainTimeoutEndsStuckStream": TestDrainTimeoutEndsStuckStream, "SwitchUnderLoad": TestSwitchUnderLoad,
		"ClientGoneReleasesStream": TestClientGoneReleasesStream, "ResponseHeaderTimeout": TestResponseHeaderTimeout,
		"RetryRefusedDial": TestRetryRefusedDial, "NoRetryOnceTargetSawRequest": TestNoRetryOnceTargetSawRequest,
		"RetryStaleKeepAlive": TestRetryStaleKeepAlive, "ServeRouting": TestServeRouting,
		"CanarySplit": TestCanarySplit, "CanarySticky": TestCanarySticky,
		"Preview": TestPreview, "StatsCounting": TestStatsCounting,
	} {
		t.Run(name, test)
	}
}
