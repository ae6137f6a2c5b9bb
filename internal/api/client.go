package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Client is the Go client of the control API; the CLI is built on it.
type Client struct {
	base  string // "http://hotswap" for the socket, or the TCP base URL
	hc    *http.Client
	token string
	actor string
}

// DialSocket returns a client for the daemon's unix socket. actor names the
// local user in the history and audit log.
func DialSocket(path, actor string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &Client{base: "http://hotswap", hc: &http.Client{Transport: tr}, actor: actor}
}

// DialTCP returns a client for the daemon's TCP listener with a bearer token.
func DialTCP(baseURL, token string) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: &http.Client{}, token: token}
}

// Error is a failed API call: the HTTP status and the server's code word.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// IsCode reports whether err is an API error with the given code.
func IsCode(err error, code string) bool {
	var ae *Error
	return errors.As(err, &ae) && ae.Code == code
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.actor != "" {
		req.Header.Set("X-Hotswap-Actor", c.actor)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the hotswap daemon (is `hotswap serve` running?): %w", err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var eb ErrorBody
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(raw, &eb) != nil || eb.Message == "" {
			eb = ErrorBody{Code: CodeInternal, Message: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))}
		}
		return nil, &Error{Status: resp.StatusCode, Code: eb.Code, Message: eb.Message}
	}
	return resp, nil
}

// Status returns every service's status, or one service's.
func (c *Client) Status(ctx context.Context, service string) ([]ServiceStatus, error) {
	var out []ServiceStatus
	p := "/v1/status"
	if service != "" {
		p += "?service=" + url.QueryEscape(service)
	}
	return out, c.do(ctx, http.MethodGet, p, nil, &out)
}

// Deploy asks for a deploy; it returns once the daemon accepted it.
func (c *Client) Deploy(ctx context.Context, service string, req DeployRequest) (Accepted, error) {
	var out Accepted
	return out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/deploy", req, &out)
}

// Rollback asks for a rollback.
func (c *Client) Rollback(ctx context.Context, service string, req RollbackRequest) (Accepted, error) {
	var out Accepted
	return out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/rollback", req, &out)
}

// Promote continues a held deploy; Abort stops the running one.
func (c *Client) Promote(ctx context.Context, service string) (int64, error) {
	return c.control(ctx, service, "promote")
}

// Abort stops the running deploy of service.
func (c *Client) Abort(ctx context.Context, service string) (int64, error) {
	return c.control(ctx, service, "abort")
}

func (c *Client) control(ctx context.Context, service, verb string) (int64, error) {
	var out ControlResult
	err := c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/"+verb, nil, &out)
	return out.Release, err
}

// Reload asks the daemon to re-read and apply its configuration file.
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var out ReloadResult
	err := c.do(ctx, http.MethodPost, "/v1/reload", struct{}{}, &out)
	return out, err
}

// Prune removes images beyond retention.
func (c *Client) Prune(ctx context.Context, service string) (PruneResult, error) {
	var out PruneResult
	return out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/prune", nil, &out)
}

// Releases lists a service's history, newest first.
func (c *Client) Releases(ctx context.Context, service string, limit int) ([]Release, error) {
	var out []Release
	return out, c.do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(service)+"/releases?limit="+strconv.Itoa(limit), nil, &out)
}

// Logs returns an instance's last output lines ("" version = the live one).
func (c *Client) Logs(ctx context.Context, service, version string, lines int) (Logs, error) {
	var out Logs
	return out, c.do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(service)+"/logs?version="+url.QueryEscape(version)+
		"&lines="+strconv.Itoa(lines), nil, &out)
}

// Release returns one release with its steps.
func (c *Client) Release(ctx context.Context, id int64) (ReleaseDetail, error) {
	var out ReleaseDetail
	return out, c.do(ctx, http.MethodGet, "/v1/releases/"+strconv.FormatInt(id, 10), nil, &out)
}

// Audit returns the newest audit entries.
func (c *Client) Audit(ctx context.Context, service string, limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	return out, c.do(ctx, http.MethodGet, "/v1/audit?limit="+strconv.Itoa(limit)+"&service="+url.QueryEscape(service), nil, &out)
}

// Follow streams a release's steps to fn as they happen and returns the
// release once its deployment has finished.
func (c *Client) Follow(ctx context.Context, id int64, fn func(Event)) (Release, error) {
	resp, err := c.send(ctx, http.MethodGet, "/v1/releases/"+strconv.FormatInt(id, 10)+"/events?follow=1", nil)
	if err != nil {
		return Release{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line StreamLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return Release{}, fmt.Errorf("event stream: %w", err)
		}
		if line.Event != nil && fn != nil {
			fn(*line.Event)
		}
		if line.Release != nil {
			return *line.Release, nil
		}
	}
	if err := sc.Err(); err != nil {
		return Release{}, fmt.Errorf("event stream: %w", err)
	}
	return Release{}, fmt.Errorf("event stream of release %d ended early (daemon stopped?)", id)
}
