package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrNotReady: at least one edge was not ready (or did not answer) at
// PREPARE; the switch was aborted and no edge changed what it serves.
var ErrNotReady = errors.New("edges not ready")

// EdgeRef is how the leader reaches one edge.
type EdgeRef struct {
	Name string // as the edge calls itself
	URL  string // base URL of its control listener, "http://10.0.0.5:9443"
}

// CoordinatorConfig configures the leader side.
type CoordinatorConfig struct {
	Edges []EdgeRef
	// Token is the bearer token every edge expects. Never logged.
	Token string
	// Log is the leader's durable record. Required.
	Log Log
	// PrepareTimeout bounds PREPARE on all edges (their probes included).
	// Default 10s.
	PrepareTimeout time.Duration
	// CommitTimeout bounds COMMIT on all edges. Default 5s.
	CommitTimeout time.Duration
	// Client carries the requests. Default: a fresh connection per request
	// (rounds are rare, and a kept-alive connection to an edge that
	// restarted fails the next POST with EOF).
	Client *http.Client
	Logger *slog.Logger
}

// Coordinator is the leader side of the protocol. Its methods are
// serialised (mu): one round at a time, the only writer of the Log.
type Coordinator struct {
	cfg CoordinatorConfig

	mu sync.Mutex // held for a whole Switch, Converge or Recover

	// testHook, when set, is called at named points of a round
	// ("prepared", "commit:<edge>" before and "committed:<edge>" after an
	// edge's COMMIT); a non-nil error ends the round at
	// once with no cleanup, the way a killed leader stops. Tests only; set
	// with setTestHook, read under mu (every round holds it).
	testHook func(point string) error
}

// setTestHook installs (or, with nil, removes) the test hook between rounds.
func (c *Coordinator) setTestHook(h func(point string) error) {
	c.mu.Lock()
	c.testHook = h
	c.mu.Unlock()
}

// NewCoordinator returns the leader side; call Recover before the first
// Switch after a (re)start.
func NewCoordinator(cfg CoordinatorConfig) (*Coordinator, error) {
	if cfg.Log == nil || cfg.Token == "" {
		return nil, errors.New("edge coordinator: log and token are required")
	}
	if cfg.PrepareTimeout == 0 {
		cfg.PrepareTimeout = 10 * time.Second
	}
	if cfg.CommitTimeout == 0 {
		cfg.CommitTimeout = 5 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Coordinator{cfg: cfg}, nil
}

// SwitchResult reports a committed switch.
type SwitchResult struct {
	Generation uint64
	// Acks are the edges that switched, with the time each reported.
	Acks map[string]time.Time
	// Skew is the spread of the ack times (latest minus earliest): how far
	// apart the edges switched, by their clocks.
	Skew time.Duration
	// Lagging are the edges that did not ack COMMIT, with why. They serve
	// the previous generation until Converge reaches them.
	Lagging map[string]string
}

// Switch makes routes the cluster's routing: a new generation, prepared on
// every edge, committed on all once all are ready. It returns ErrNotReady
// (wrapped, naming each edge and reason) when the round was aborted; then
// nothing switched anywhere. A nil error means the generation is committed
// (the leader's log says so); edges that missed COMMIT are in
// SwitchResult.Lagging.
func (c *Coordinator) Switch(ctx context.Context, routes []Route) (SwitchResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.switchLocked(ctx, routes)
}

func (c *Coordinator) switchLocked(ctx context.Context, routes []Route) (SwitchResult, error) {
	g, err := c.cfg.Log.Begin()
	if err != nil {
		return SwitchResult{}, fmt.Errorf("switch: %w", err)
	}
	gen := Generation{Number: g, Routes: routes}
	if err := gen.Validate(); err != nil {
		c.abort(ctx, g, nil)
		return SwitchResult{}, fmt.Errorf("switch: generation %d: %w", g, err)
	}
	notReady := c.prepare(ctx, c.cfg.Edges, gen)
	if err := c.hook("prepared"); err != nil {
		return SwitchResult{}, err
	}
	if len(notReady) > 0 {
		c.abort(ctx, g, c.cfg.Edges)
		return SwitchResult{}, fmt.Errorf("switch to generation %d aborted, nothing switched: %w: %s", g, ErrNotReady, describe(notReady))
	}
	if err := c.cfg.Log.Commit(gen); err != nil {
		// Not committed: nobody may switch.
		c.abort(ctx, g, c.cfg.Edges)
		return SwitchResult{}, fmt.Errorf("switch to generation %d: record commit: %w", g, err)
	}
	res, err := c.commit(ctx, c.cfg.Edges, g)
	if err != nil {
		return res, err
	}
	c.cfg.Logger.Info("generation committed", "generation", g, "skew", res.Skew, "lagging", len(res.Lagging))
	return res, nil
}

// SwitchService is Switch for one service, the way the engine switches:
// the next generation is the committed one with r replacing that service's
// route (or added). Other services' routes are carried over unchanged, and
// are probed again like every route of a generation. Reading the
// committed routes and switching happen in one round (under mu), so two
// services switched at once both end up in the routing.
func (c *Coordinator) SwitchService(ctx context.Context, r Route) (SwitchResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	gen, _, err := c.cfg.Log.Load()
	if err != nil {
		return SwitchResult{}, fmt.Errorf("switch %s: %w", r.Service, err)
	}
	routes := make([]Route, 0, len(gen.Routes)+1)
	for _, old := range gen.Routes {
		if old.Service != r.Service {
			routes = append(routes, old)
		}
	}
	return c.switchLocked(ctx, append(routes, r))
}

// prepare sends PREPARE(gen) to edges in parallel and returns the edges
// that were not ready, with why.
func (c *Coordinator) prepare(ctx context.Context, edges []EdgeRef, gen Generation) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PrepareTimeout)
	defer cancel()
	return c.fanOut(edges, func(e EdgeRef) (string, bool) {
		var reply PrepareReply
		if err := c.call(ctx, e, PathPrepare, gen, &reply); err != nil {
			return err.Error(), false
		}
		if !reply.Ready {
			return reply.Reason, false
		}
		return "", true
	})
}

// commit sends COMMIT(g) to edges in parallel and collects acks.
func (c *Coordinator) commit(ctx context.Context, edges []EdgeRef, g uint64) (SwitchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommitTimeout)
	defer cancel()
	res := SwitchResult{Generation: g, Acks: map[string]time.Time{}, Lagging: map[string]string{}}
	var mu sync.Mutex
	var hookErr error
	failed := c.fanOut(edges, func(e EdgeRef) (string, bool) {
		if err := c.hook("commit:" + e.Name); err != nil {
			return err.Error(), false
		}
		var reply CommitReply
		if err := c.call(ctx, e, PathCommit, CommitRequest{Number: g}, &reply); err != nil {
			return err.Error(), false
		}
		mu.Lock()
		res.Acks[e.Name] = reply.At
		if err := c.hook("committed:" + e.Name); err != nil && hookErr == nil {
			hookErr = err
		}
		mu.Unlock()
		return "", true
	})
	if hookErr != nil {
		return res, hookErr
	}
	res.Lagging = failed
	var first, last time.Time
	for _, at := range res.Acks {
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	res.Skew = last.Sub(first)
	return res, nil
}

// abort sends ABORT(g) to edges (best effort: an edge that misses it drops
// the prepared generation at the next PREPARE, and its number is never
// reused) and drops the intent from the log.
func (c *Coordinator) abort(ctx context.Context, g uint64, edges []EdgeRef) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CommitTimeout)
	defer cancel()
	c.fanOut(edges, func(e EdgeRef) (string, bool) {
		if err := c.call(ctx, e, PathAbort, CommitRequest{Number: g}, nil); err != nil {
			c.cfg.Logger.Warn("abort not delivered", "edge", e.Name, "generation", g, "err", err)
		}
		return "", true
	})
	if err := c.cfg.Log.Abort(g); err != nil {
		c.cfg.Logger.Error("drop intent", "generation", g, "err", err)
	}
}

// Converge brings every edge that serves less than the committed
// generation up to it, each with a PREPARE and COMMIT of its own. It
// returns the edges it moved and, for those still behind, why.
func (c *Coordinator) Converge(ctx context.Context) (moved []string, behind map[string]string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.converge(ctx)
}

func (c *Coordinator) converge(ctx context.Context) ([]string, map[string]string, error) {
	gen, _, err := c.cfg.Log.Load()
	if err != nil {
		return nil, nil, err
	}
	behind := map[string]string{}
	if gen.Number == 0 {
		return nil, behind, nil
	}
	states := c.states(ctx)
	var stale []EdgeRef
	for _, e := range c.cfg.Edges {
		st, ok := states[e.Name]
		switch {
		case !ok:
			behind[e.Name] = "unreachable"
		case st.Committed < gen.Number:
			stale = append(stale, e)
		}
	}
	for name, why := range c.prepare(ctx, stale, gen) {
		behind[name] = why
	}
	var ready []EdgeRef
	for _, e := range stale {
		if _, bad := behind[e.Name]; !bad {
			ready = append(ready, e)
		}
	}
	res, err := c.commit(ctx, ready, gen.Number)
	if err != nil {
		return nil, behind, err
	}
	var moved []string
	for name := range res.Acks {
		moved = append(moved, name)
	}
	for name, why := range res.Lagging {
		behind[name] = why
	}
	sort.Strings(moved)
	return moved, behind, nil
}

// Watch converges lagging edges every interval until ctx ends: the
// leader's background duty between switches. It returns ctx's error. Its
// caller owns the goroutine it runs in.
func (c *Coordinator) Watch(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		moved, behind, err := c.Converge(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			c.cfg.Logger.Warn("converge", "err", err)
		case len(moved) > 0:
			c.cfg.Logger.Info("edges converged", "edges", moved)
		}
		if len(behind) > 0 {
			c.cfg.Logger.Debug("edges behind", "edges", describe(behind))
		}
	}
}

// Recover settles what a previous leader left: an intent that never
// committed is aborted on every edge, and edges behind the committed
// generation are converged. After it, one generation is current.
func (c *Coordinator) Recover(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	gen, pending, err := c.cfg.Log.Load()
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if pending > gen.Number {
		c.cfg.Logger.Info("aborting the previous leader's unfinished generation", "generation", pending)
		c.abort(ctx, pending, c.cfg.Edges)
	}
	if _, behind, err := c.converge(ctx); err != nil {
		return fmt.Errorf("recover: %w", err)
	} else if len(behind) > 0 {
		c.cfg.Logger.Warn("edges still behind after recovery", "edges", describe(behind))
	}
	return nil
}

// EdgeStatus is the leader's view of one edge, for `hotswap status`.
type EdgeStatus struct {
	Name string `json:"name"`
	// State is what the edge reported; zero when it did not answer.
	State State `json:"state"`
	// Behind is how many generations the edge serves behind the committed
	// one (0: in step). An edge that did not answer counts as behind by
	// what it last could have had: the whole committed number.
	Behind uint64 `json:"behind"`
	// Unreachable says why the edge did not answer, or "".
	Unreachable string `json:"unreachable,omitempty"`
}

// Status returns every edge's status against the committed generation, in
// the order of the configured edges.
func (c *Coordinator) Status(ctx context.Context) ([]EdgeStatus, error) {
	gen, _, err := c.cfg.Log.Load()
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	states, failed := c.collectStates(ctx)
	out := make([]EdgeStatus, 0, len(c.cfg.Edges))
	for _, e := range c.cfg.Edges {
		st, ok := states[e.Name]
		es := EdgeStatus{Name: e.Name, State: st, Unreachable: failed[e.Name]}
		switch {
		case !ok:
			es.Behind = gen.Number
		case st.Committed < gen.Number:
			es.Behind = gen.Number - st.Committed
		}
		out = append(out, es)
	}
	return out, nil
}

func (c *Coordinator) states(ctx context.Context) map[string]State {
	out, _ := c.collectStates(ctx)
	return out
}

// collectStates asks every edge for its state; failed says why the others
// did not answer.
func (c *Coordinator) collectStates(ctx context.Context) (map[string]State, map[string]string) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommitTimeout)
	defer cancel()
	out := map[string]State{}
	var mu sync.Mutex
	failed := c.fanOut(c.cfg.Edges, func(e EdgeRef) (string, bool) {
		var st State
		if err := c.call(ctx, e, PathState, nil, &st); err != nil {
			return err.Error(), false
		}
		mu.Lock()
		out[e.Name] = st
		mu.Unlock()
		return "", true
	})
	return out, failed
}

// fanOut runs f for every edge in parallel and returns the failures.
func (c *Coordinator) fanOut(edges []EdgeRef, f func(EdgeRef) (string, bool)) map[string]string {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed = map[string]string{}
	)
	for _, e := range edges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if why, ok := f(e); !ok {
				mu.Lock()
				failed[e.Name] = why
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// call sends one request (POST with a JSON body, or GET when body is nil)
// and decodes a 200 answer into out.
func (c *Coordinator) call(ctx context.Context, e EdgeRef, path string, body, out any) error {
	method := http.MethodGet
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		method, rd = http.MethodPost, bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(e.URL, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("edge %s: %w", e.Name, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("edge %s: %w", e.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("edge %s: %s %s: status %d: %s", e.Name, method, path, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(out); err != nil {
		return fmt.Errorf("edge %s: %s: decode answer: %w", e.Name, path, err)
	}
	return nil
}

func (c *Coordinator) hook(point string) error {
	if c.testHook == nil {
		return nil
	}
	return c.testHook(point)
}

// describe renders edge → reason, sorted, for error messages.
func describe(m map[string]string) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + m[n]
	}
	return strings.Join(parts, "; ")
}
