package edge

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Table is where an edge installs a committed generation: the node's
// proxy. Install replaces the whole routing with routes (services absent
// from routes stop being routed) and returns an error, having changed
// nothing, when it cannot. It is called with committed generations only,
// one at a time.
type Table interface {
	Install(routes []Route) error
}

// ServerConfig configures one edge.
type ServerConfig struct {
	// Name identifies the edge to the leader and in probes' User-Agent
	// ("hotswap-edge/<name>"). Required.
	Name string
	// Token is the bearer token the leader presents. Required; compared in
	// constant time, never logged.
	Token string
	// StateFile is where the last committed generation is kept (written
	// atomically). Required. Read at start: the edge serves it at once.
	StateFile string
	// Table is the node's route table. Required.
	Table Table
	// ProbeTimeout bounds the health probes of one PREPARE; endpoints are
	// retried every 100ms within it. Default 5s.
	ProbeTimeout time.Duration
	// LagGrace is how long a prepared generation may wait for its COMMIT or
	// ABORT before the edge calls itself lagging and /ready answers 503.
	// Default 10s.
	LagGrace time.Duration
	// Log may be nil.
	Log *slog.Logger
}

// Server is one edge: it answers the leader's PREPARE, COMMIT and ABORT,
// and installs committed generations in its Table.
type Server struct {
	cfg    ServerConfig
	prober *http.Client

	// mu guards the fields below. A COMMIT holds it across writing the
	// state file and installing the routes, so commits are serialised and
	// what the file says is what the table serves (or the one before it,
	// while Install runs).
	mu          sync.Mutex
	committed   Generation
	committedAt time.Time
	prepared    *Generation
	preparedAt  time.Time
}

// NewServer loads the edge's last committed generation and installs it,
// so a restarted edge serves what it served before it stopped.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Name == "" || cfg.Token == "" || cfg.StateFile == "" || cfg.Table == nil {
		return nil, errors.New("edge: name, token, state file and table are required")
	}
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = 5 * time.Second
	}
	if cfg.LagGrace == 0 {
		cfg.LagGrace = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.Log = cfg.Log.With("edge", cfg.Name)
	g, err := loadGeneration(cfg.StateFile)
	if err != nil {
		return nil, fmt.Errorf("edge %s: %w", cfg.Name, err)
	}
	if g.Number > 0 {
		if err := cfg.Table.Install(g.Routes); err != nil {
			return nil, fmt.Errorf("edge %s: install generation %d from %s: %w", cfg.Name, g.Number, cfg.StateFile, err)
		}
	}
	s := &Server{cfg: cfg, committed: g, prober: newProber()}
	p, err := loadPrepared(preparedPath(cfg.StateFile))
	if err != nil {
		return nil, fmt.Errorf("edge %s: %w", cfg.Name, err)
	}
	if p != nil && p.Generation.Number > g.Number {
		// Prepared before a restart and never resolved: still owed a
		// COMMIT or ABORT, so still lagging once the grace is over.
		s.prepared, s.preparedAt = &p.Generation, p.At
	} else if p != nil {
		s.dropPrepared()
	}
	return s, nil
}

// dropPrepared removes the prepared file; a failure is only logged (a
// stale file is ignored at the next start: it is not newer than what the
// state file says).
func (s *Server) dropPrepared() {
	if err := os.Remove(preparedPath(s.cfg.StateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.cfg.Log.Warn("remove prepared file", "err", err)
	}
}

// Handler serves the protocol (see the package doc) and /ready.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathPrepare, s.auth(s.handlePrepare))
	mux.HandleFunc("POST "+PathCommit, s.auth(s.handleCommit))
	mux.HandleFunc("POST "+PathAbort, s.auth(s.handleAbort))
	mux.HandleFunc("GET "+PathState, s.auth(s.handleState))
	mux.HandleFunc("GET "+PathReady, s.handleReady)
	return mux
}

// State reports what the edge serves and holds.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stateLocked()
}

func (s *Server) stateLocked() State {
	st := State{Edge: s.cfg.Name, Committed: s.committed.Number}
	if s.prepared != nil {
		st.Prepared = s.prepared.Number
		st.Lagging = time.Since(s.preparedAt) > s.cfg.LagGrace
	}
	return st
}

// Committed returns the generation the edge serves.
func (s *Server) Committed() Generation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + s.cfg.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		h(w, r)
	}
}

func (s *Server) handlePrepare(w http.ResponseWriter, r *http.Request) {
	g, err := DecodeGeneration(r.Body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	reply := PrepareReply{Edge: s.cfg.Name}
	s.mu.Lock()
	serving := s.committed.Number
	s.mu.Unlock()
	if g.Number <= serving {
		reply.Reason = fmt.Sprintf("generation %d is not newer than the %d this edge serves", g.Number, serving)
		writeJSON(w, http.StatusOK, reply)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ProbeTimeout)
	defer cancel()
	if err := s.probeAll(ctx, g.Routes); err != nil {
		reply.Reason = err.Error()
		s.cfg.Log.Warn("not ready", "generation", g.Number, "reason", err)
		writeJSON(w, http.StatusOK, reply)
		return
	}
	s.mu.Lock()
	if g.Number <= s.committed.Number {
		reply.Reason = fmt.Sprintf("generation %d is not newer than the %d this edge serves", g.Number, s.committed.Number)
	} else if err := savePrepared(preparedPath(s.cfg.StateFile), prepared{Generation: g, At: time.Now()}); err != nil {
		reply.Reason = err.Error()
	} else {
		s.prepared, s.preparedAt = &g, time.Now()
		reply.Ready = true
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, reply)
}

func (s *Server) handleCommit(w http.ResponseWriter, r *http.Request) {
	var req CommitRequest
	if err := decodeStrict(r.Body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Number != 0 && req.Number == s.committed.Number {
		// A repeated COMMIT (the leader retrying after a lost ack).
		writeJSON(w, http.StatusOK, CommitReply{Edge: s.cfg.Name, Number: req.Number, At: s.committedAt})
		return
	}
	if s.prepared == nil || s.prepared.Number != req.Number {
		have := uint64(0)
		if s.prepared != nil {
			have = s.prepared.Number
		}
		writeJSON(w, http.StatusConflict, map[string]string{
			"error": fmt.Sprintf("generation %d is not prepared here (prepared %d, serving %d)", req.Number, have, s.committed.Number)})
		return
	}
	g := *s.prepared
	if err := saveGeneration(s.cfg.StateFile, g); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	if err := s.cfg.Table.Install(g.Routes); err != nil {
		// The table still serves the old generation: make the file say so
		// again before answering.
		if rerr := saveGeneration(s.cfg.StateFile, s.committed); rerr != nil {
			s.cfg.Log.Error("restore state file after failed install", "err", rerr)
		}
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "install: " + err.Error()})
		return
	}
	s.committed, s.committedAt, s.prepared = g, time.Now(), nil
	s.dropPrepared()
	s.cfg.Log.Info("committed", "generation", g.Number)
	writeJSON(w, http.StatusOK, CommitReply{Edge: s.cfg.Name, Number: g.Number, At: s.committedAt})
}

func (s *Server) handleAbort(w http.ResponseWriter, r *http.Request) {
	var req CommitRequest
	if err := decodeStrict(r.Body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	if s.prepared != nil && s.prepared.Number == req.Number {
		s.prepared = nil
		s.dropPrepared()
	}
	st := s.stateLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.State())
}

// handleReady is the load balancer's check: 503 while the edge serves
// nothing or lags (see LagGrace), else 200.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	st := s.State()
	switch {
	case st.Committed == 0:
		http.Error(w, "no generation committed yet", http.StatusServiceUnavailable)
	case st.Lagging:
		http.Error(w, fmt.Sprintf("lagging: generation %d prepared but not committed", st.Prepared), http.StatusServiceUnavailable)
	default:
		fmt.Fprintf(w, "ok: generation %d\n", st.Committed)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// probeAll health-checks every endpoint of routes in parallel and returns
// the first failure of each endpoint, joined, or nil when all are healthy.
func (s *Server) probeAll(ctx context.Context, routes []Route) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	for _, rt := range routes {
		for _, ep := range rt.Endpoints {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.probe(ctx, ep, rt.HealthPath); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("%s %s at %s: %v", rt.Service, rt.Version, ep, err))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		return errors.New("unhealthy from edge " + s.cfg.Name + ": " + strings.Join(errs, "; "))
	}
	return nil
}

// probe GETs path on ep until a 2xx answer or ctx ends, returning the last
// failure.
func (s *Server) probe(ctx context.Context, ep, path string) error {
	var last error
	for {
		err := probeOnce(ctx, s.prober, ep, path, "hotswap-edge/"+s.cfg.Name)
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// probeOnce GETs path on ep once: nil for a 2xx answer, else why not.
func probeOnce(ctx context.Context, cl *http.Client, ep, path, agent string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ep+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", agent)
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// newProber is the probes' client: no keep-alives (a probe must reach the
// endpoint as it is now), no redirects, no proxy from the environment.
func newProber() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: 2 * time.Second,
	}
}
