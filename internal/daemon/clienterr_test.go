package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotswap/hotswap/internal/api"
	"github.com/hotswap/hotswap/internal/loadgen"
)

// TestCanaryNotRolledBackByMalformedClients: while a healthy canary is
// analysed, clients send POSTs with malformed chunked bodies as fast as
// they can. They get 400, show in the service's client-error count and
// metric, and do not enter the canary's error rate: the canary goes live.
func TestCanaryNotRolledBackByMalformedClients(t *testing.T) {
	dir := t.TempDir()
	top := "  listen: 127.0.0.1:0\n  tokens: [{name: ci, token: 0123456789abcdef0123}]\n"
	cfg := servicesConfig(t, dir, fmt.Sprintf(canaryService, sampleBin, "1200ms", "1200ms"), top)
	d := startDaemon(t, cfg, true)
	c := api.DialSocket(d.SocketPath(), "test")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mustDeploy(ctx, t, c, "shop", "v1", "live")

	load := loadgen.Start(ctx, loadgen.Options{URL: "http://" + d.ProxyAddr(), Host: "shop.test", Workers: 2, MaxRequests: 2_000_000})
	defer load.Stop()
	stop := make(chan struct{})
	var sent, answered400 atomic.Int64
	var wg sync.WaitGroup
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer halt()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200_000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				if malformedPost(d.ProxyAddr()) == http.StatusBadRequest {
					answered400.Add(1)
				}
			}
		}()
	}
	rel := mustDeploy(ctx, t, c, "shop", "v2", "live")
	halt()
	res := load.Stop()
	t.Logf("load: %s; malformed POSTs: %d sent, %d answered 400; analysis %s", res, sent.Load(), answered400.Load(), rel.Analysis)

	detail, err := c.Release(ctx, rel.ID)
	if err != nil {
		t.Fatal(err)
	}
	judged := 0
	for _, e := range detail.Events {
		if e.Step == "analysis" && !strings.Contains(e.Message, "not enough") {
			judged++
			t.Logf("analysis: %s", e.Message)
		}
	}
	if judged == 0 {
		t.Error("no analysis judged the canary: the test did not exercise it")
	}
	if answered400.Load() == 0 || answered400.Load() != sent.Load() {
		t.Errorf("%d of %d malformed POSTs answered 400, want all", answered400.Load(), sent.Load())
	}
	if res.Failed != 0 {
		t.Errorf("%d well-formed requests failed", res.Failed)
	}
	svc, _ := d.proxy.Service("shop")
	if got := svc.ClientErrors(); got < uint64(sent.Load()) {
		t.Errorf("client errors = %d, want at least the %d malformed POSTs", got, sent.Load())
	}
	resp, err := http.Get("http://" + d.ControlAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("hotswap_client_errors_total{service=\"shop\"} %d", svc.ClientErrors()); !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %q", want)
	}
}

// malformedPost sends a POST whose chunked body has an invalid chunk size
// on a new connection and returns the status it got (0 on no answer).
func malformedPost(addr string) int {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0 // counted as not answered 400
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST /order HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbad\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
