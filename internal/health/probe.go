package health

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"
)

// prober runs probes against one address. It is used by one goroutine at
// a time (WaitHealthy or Watch); opened is atomic because the HTTP
// transport dials on goroutines of its own.
type prober struct {
	addr   string
	check  Check
	client *http.Client
	opened atomic.Bool // some probe's connection was accepted
}

func newProber(addr string, c Check) *prober {
	p := &prober{addr: addr, check: c}
	dialer := &net.Dialer{}
	p.client = &http.Client{
		Transport: &http.Transport{
			Proxy: nil, // never send a probe of a local instance through HTTP_PROXY
			DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
				conn, err := dialer.DialContext(ctx, network, a)
				if err == nil {
					p.opened.Store(true)
				}
				return conn, err
			},
			DisableKeepAlives:      true, // each probe asks afresh whether the port accepts
			MaxResponseHeaderBytes: 64 << 10,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is an answer, and passes
		},
	}
	return p
}

// close releases the transport's resources.
func (p *prober) close() { p.client.CloseIdleConnections() }

// probe runs one check bounded by the check's timeout and ctx.
func (p *prober) probe(ctx context.Context) Probe {
	ctx, cancel := context.WithTimeout(ctx, p.check.Timeout)
	defer cancel()
	start := time.Now()
	var pr Probe
	if p.check.Path == "" {
		pr.Err = p.tcp(ctx)
	} else {
		pr.Status, pr.Err = p.http(ctx)
	}
	pr.Latency = time.Since(start)
	pr.OK = pr.Err == nil
	return pr
}

func (p *prober) tcp(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return &probeError{msg: "TCP connect: " + p.reason(err), err: err}
	}
	p.opened.Store(true)
	if err := conn.Close(); err != nil {
		return &probeError{msg: "TCP close: " + err.Error(), err: err}
	}
	return nil
}

func (p *prober) http(ctx context.Context) (int, error) {
	op := "GET " + p.check.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+p.check.Path, nil)
	if err != nil {
		return 0, &probeError{msg: op + ": " + err.Error(), err: err}
	}
	if p.check.Host != "" {
		req.Host = p.check.Host
	}
	req.Header.Set("User-Agent", "hotswap-health/1")
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, &probeError{msg: op + ": " + p.reason(err), err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return resp.StatusCode, nil
	}
	msg := fmt.Sprintf("%s: %s", op, resp.Status)
	if s := snippet(resp.Body); s != "" {
		msg += ": " + s
	}
	return resp.StatusCode, &probeError{msg: msg}
}

// reason turns a dial or transport error into the short phrase a user
// needs, keeping the full error for errors.Is through probeError.
func (p *prober) reason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %s", p.check.Timeout)
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return err.Error()
}

// snippet returns the start of an error body's first line, printable only,
// so "503: database not ready" tells the user why.
func snippet(r io.Reader) string {
	line, _ := bufio.NewReader(io.LimitReader(r, 512)).ReadString('\n')
	line = strings.Map(func(c rune) rune {
		if unicode.IsPrint(c) {
			return c
		}
		return -1
	}, strings.TrimSpace(line))
	if len(line) > 120 {
		line = line[:120] + "…"
	}
	return line
}

// probeError is a probe failure with a message fit for users and the
// underlying error kept for errors.Is.
type probeError struct {
	msg string
	err error
}

func (e *probeError) Error() string { return e.msg }
func (e *probeError) Unwrap() error { return e.err }

// ProbeOnce runs a single probe now, for status displays.
func ProbeOnce(ctx context.Context, addr string, c Check) Probe {
	p := newProber(addr, c)
	defer p.close()
	pr := p.probe(ctx)
	if pr.OK {
		pr.Streak = 1
	}
	return pr
}
