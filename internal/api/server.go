// Package api is hotswap's control plane: HTTP+JSON served on a unix socket
// (mode 0600: whoever can open it is trusted, like the Docker socket) and,
// optionally, on a TCP listener where every call needs a bearer token. The
// CLI talks to it through Client; CI talks to it directly or through the
// webhook endpoints the daemon mounts beside it.
//
// Routes:
//
//	GET  /v1/status[?service=S]                 every service: live, warm, in flight, health
//	POST /v1/services/{service}/deploy          DeployRequest → 202 Accepted
//	POST /v1/services/{service}/rollback        RollbackRequest → 202 Accepted
//	POST /v1/services/{service}/promote         continue a held deploy
//	POST /v1/services/{service}/abort           stop the running deploy
//	POST /v1/services/{service}/prune           remove images beyond retention
//	GET  /v1/services/{service}/releases[?limit=N]
//	GET  /v1/services/{service}/logs[?version=V&lines=N]  an instance's last output lines
//	GET  /v1/releases/{id}   (alias /v1/deploys/{id})   a release and its steps
//	GET  /v1/releases/{id}/events?after=N&follow=1      NDJSON stream of steps, then the settled release
//	GET  /v1/audit[?service=S&limit=N]
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/hotswap/hotswap/internal/deploy"
	"github.com/hotswap/hotswap/internal/release"
)

// Token is one named bearer token for the TCP listener. The name is what
// the audit log and release history record; the secret never leaves here.
type Token struct {
	Name   string
	Secret []byte
	// ReadOnly (the "viewer" role) allows GET and HEAD only; any other
	// request is refused with 403 and audited.
	ReadOnly bool
}

// Options configures a Server.
type Options struct {
	Engine *deploy.Engine
	Store  *release.Store
	Tokens []Token
	Log    *slog.Logger
	// Reload re-reads and applies the configuration (POST /v1/reload);
	// nil answers that reload is unavailable.
	Reload func(context.Context) (ReloadResult, error)
	// Certificates reports the HTTPS certificates (nil: none).
	Certificates func(context.Context) []Certificate
}

// Server serves the control API. Its only mutable state is the rejected
// requests' counts, owned by rejects.
type Server struct {
	engine  *deploy.Engine
	store   *release.Store
	tokens  []Token
	log     *slog.Logger
	reload  func(context.Context) (ReloadResult, error)
	rejects *Rejects
	certs   func(context.Context) []Certificate
}

// NewServer builds the API over an engine and its store.
func NewServer(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Server{engine: o.Engine, store: o.Store, tokens: o.Tokens, log: o.Log, reload: o.Reload, rejects: NewRejects(o.Store, o.Log),
		certs: o.Certificates}
}

// Rejects is the server's rejected-request gate, shared with the webhook
// endpoints so that one source's failures are counted together.
func (s *Server) Rejects() *Rejects { return s.rejects }

type ctxKey int

const callerKey ctxKey = 1

// caller is who made a request, as recorded in history and audit.
type caller struct {
	source release.SourceKind
	actor  string
	remote string
	// viewer: a read-only token; it sees no secrets (the preview secret).
	viewer bool
}

// LocalHandler serves the unix socket: callers are trusted (the socket is
// 0600, or 0660 for control.socket_group); the actor is the connecting
// user from the socket's peer credentials (see localActor; serve the
// socket with PeerConnContext as ConnContext).
func (s *Server) LocalHandler() http.Handler {
	mux := s.routes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := caller{source: release.SourceCLI, actor: localActor(r), remote: "unix"}
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey, c)))
	})
}

// RemoteHandler serves the TCP listener: every request needs a valid
// bearer token, compared in constant time; the token's name is the actor.
func (s *Server) RemoteHandler() http.Handler {
	mux := s.routes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := s.authenticate(r.Header.Get("Authorization"))
		name := tok.Name
		if !ok && s.rejects.Limited(r.RemoteAddr) {
			// A valid token is never limited; a flood of bad ones is
			// counted and answered without another word.
			s.rejects.Record(r.Context(), release.Audit{Source: release.SourceAPI, Actor: "?", Remote: r.RemoteAddr,
				Action: r.Method + " " + r.URL.Path, Outcome: release.OutcomeRejected, Detail: "rate limited: too many rejected requests"})
			w.Header().Set("Retry-After", "60")
			writeError(w, fmt.Errorf("%w: too many rejected requests from this address; retry in a minute", errTooMany))
			return
		}
		if !ok {
			s.audit(r.Context(), caller{source: release.SourceAPI, actor: "?", remote: r.RemoteAddr},
				r.Method+" "+r.URL.Path, "", "", release.OutcomeRejected, "missing or invalid bearer token")
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotswap"`)
			writeError(w, fmt.Errorf("%w: a valid bearer token is required", errUnauthorized))
			return
		}
		c := caller{source: release.SourceAPI, actor: name, remote: r.RemoteAddr, viewer: tok.ReadOnly}
		if tok.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.audit(r.Context(), c, r.Method+" "+r.URL.Path, "", "", release.OutcomeRejected, "viewer token: read only")
			writeError(w, fmt.Errorf("%w: token %q has the viewer role (read only)", errForbidden, name))
			return
		}
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey, c)))
	})
}

func (s *Server) authenticate(header string) (Token, bool) {
	const prefix = "Bearer "
	if len(header) <= len(prefix) || header[:len(prefix)] != prefix {
		return Token{}, false
	}
	given := []byte(header[len(prefix):])
	var tok Token
	found := 0
	for _, t := range s.tokens { // check every token: timing does not tell which matched
		if subtle.ConstantTimeCompare(given, t.Secret) == 1 {
			tok, found = t, 1
		}
	}
	return tok, found == 1
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", s.status)
	mux.HandleFunc("GET /v1/certificates", s.certificates)
	mux.HandleFunc("POST /v1/services/{service}/deploy", s.deploy)
	mux.HandleFunc("POST /v1/services/{service}/rollback", s.rollback)
	mux.HandleFunc("POST /v1/services/{service}/promote", s.promote)
	mux.HandleFunc("POST /v1/services/{service}/abort", s.abort)
	mux.HandleFunc("POST /v1/services/{service}/prune", s.prune)
	mux.HandleFunc("GET /v1/services/{service}/releases", s.releases)
	mux.HandleFunc("GET /v1/services/{service}/logs", s.logs)
	mux.HandleFunc("GET /v1/releases/{id}", s.releaseDetail)
	mux.HandleFunc("GET /v1/deploys/{id}", s.releaseDetail)
	mux.HandleFunc("GET /v1/releases/{id}/events", s.events)
	mux.HandleFunc("GET /v1/deploys/{id}/events", s.events)
	mux.HandleFunc("GET /v1/audit", s.auditLog)
	mux.HandleFunc("POST /v1/reload", s.reloadConfig)
	return mux
}

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey).(caller)
	return c
}

func (s *Server) audit(ctx context.Context, c caller, action, service, ver string, outcome release.Outcome, detail string) {
	a := release.Audit{Actor: c.actor, Source: c.source, Action: action,
		Service: service, Version: ver, Outcome: outcome, Detail: detail, Remote: c.remote}
	if outcome == release.OutcomeRejected {
		s.rejects.Record(ctx, a)
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.store.AppendAudit(actx, a); err != nil {
		s.log.Error("audit", "action", action, "err", err)
	}
}

// maxBody bounds every request body of the control API.
const maxBody = 64 << 10

func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %v", errBadRequest, err)
	}
	return nil
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.engine.Status(r.Context(), r.URL.Query().Get("service"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := toStatus(st)
	if callerOf(r).viewer {
		for i := range out {
			out[i].PreviewSecret = "" // reaching a held version is a deployer's business
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deploy(w http.ResponseWriter, r *http.Request) {
	svc := r.PathValue("service")
	var body DeployRequest
	if err := decodeBody(w, r, &body); err != nil {
		s.reject(w, r, "deploy", svc, "", err)
		return
	}
	c := callerOf(r)
	rel, err := s.engine.Submit(r.Context(), deploy.Request{
		Service: svc, Version: body.Version, Kind: deploy.KindDeploy, Note: body.Note, Commit: body.Commit,
		Author: body.Author, Source: release.Source{Kind: c.source, Actor: c.actor}, Queue: body.Queue, Hold: body.Hold,
	})
	s.accepted(w, r, "deploy", svc, body.Version, rel, err)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	svc := r.PathValue("service")
	var body RollbackRequest
	if err := decodeBody(w, r, &body); err != nil {
		s.reject(w, r, "rollback", svc, "", err)
		return
	}
	c := callerOf(r)
	rel, err := s.engine.Submit(r.Context(), deploy.Request{
		Service: svc, Version: body.Version, Kind: deploy.KindRollback, Note: body.Note,
		Source: release.Source{Kind: c.source, Actor: c.actor},
	})
	s.accepted(w, r, "rollback", svc, body.Version, rel, err)
}

func (s *Server) accepted(w http.ResponseWriter, r *http.Request, action, svc, ver string, rel *release.Release, err error) {
	if err != nil {
		s.reject(w, r, action, svc, ver, err)
		return
	}
	s.audit(r.Context(), callerOf(r), action, svc, rel.Version, release.OutcomeOK, fmt.Sprintf("release #%d", rel.ID))
	writeJSON(w, http.StatusAccepted, Accepted{Release: toRelease(rel), StatusURL: fmt.Sprintf("/v1/deploys/%d", rel.ID)})
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, action, svc, ver string, err error) {
	outcome := release.OutcomeRejected
	if st, _ := statusOf(err); st >= 500 {
		outcome = release.OutcomeError
	}
	s.audit(r.Context(), callerOf(r), action, svc, ver, outcome, err.Error())
	writeError(w, err)
}

func (s *Server) promote(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, "promote", s.engine.Promote)
}

func (s *Server) abort(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, "abort", s.engine.Abort)
}

func (s *Server) control(w http.ResponseWriter, r *http.Request, action string, fn func(string) (int64, error)) {
	svc := r.PathValue("service")
	id, err := fn(svc)
	if err != nil {
		s.reject(w, r, action, svc, "", err)
		return
	}
	s.audit(r.Context(), callerOf(r), action, svc, "", release.OutcomeOK, fmt.Sprintf("release #%d", id))
	writeJSON(w, http.StatusOK, ControlResult{Release: id})
}

func (s *Server) prune(w http.ResponseWriter, r *http.Request) {
	svc := r.PathValue("service")
	res, err := s.engine.Prune(r.Context(), svc)
	if err != nil {
		s.reject(w, r, "prune", svc, "", err)
		return
	}
	s.audit(r.Context(), callerOf(r), "prune", svc, "", release.OutcomeOK, fmt.Sprintf("removed %d images, %d bytes", len(res.Removed), res.Freed))
	writeJSON(w, http.StatusOK, toPrune(res))
}

func (s *Server) releases(w http.ResponseWriter, r *http.Request) {
	svc := r.PathValue("service")
	if _, err := s.engine.Status(r.Context(), svc); errors.Is(err, deploy.ErrUnknownService) {
		writeError(w, err)
		return
	}
	limit := queryInt(r, "limit", 20)
	rels, err := s.store.ListReleases(r.Context(), svc, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]Release, len(rels))
	for i := range rels {
		out[i] = toRelease(&rels[i])
	}
	writeJSON(w, http.StatusOK, out)
}

// Logs is the answer of GET /v1/services/{service}/logs.
type Logs struct {
	Service string   `json:"service"`
	Version string   `json:"version"`
	Lines   []string `json:"lines"`
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	svc := r.PathValue("service")
	ver, lines, err := s.engine.Logs(r.Context(), svc, r.URL.Query().Get("version"), queryInt(r, "lines", 100))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Logs{Service: svc, Version: ver, Lines: lines})
}

func (s *Server) releaseDetail(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, fmt.Errorf("%w: release id %q is not a number", errBadRequest, r.PathValue("id")))
		return
	}
	rel, err := s.store.GetRelease(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	evs, err := s.store.Events(r.Context(), id, 0)
	if err != nil {
		writeError(w, err)
		return
	}
	d := ReleaseDetail{Release: toRelease(rel), Events: make([]Event, len(evs))}
	for i, e := range evs {
		d.Events[i] = toEvent(e)
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request) {
	entries, err := s.store.ListAudit(r.Context(), queryInt(r, "limit", 50), r.URL.Query().Get("service"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]AuditEntry, len(entries))
	for i, a := range entries {
		out[i] = toAudit(a)
	}
	writeJSON(w, http.StatusOK, out)
}

func queryInt(r *http.Request, key string, def int) int {
	if v, err := strconv.Atoi(r.URL.Query().Get(key)); err == nil && v > 0 && v <= 10000 {
		return v
	}
	return def
}

func (s *Server) reloadConfig(w http.ResponseWriter, r *http.Request) {
	if s.reload == nil {
		writeError(w, fmt.Errorf("%w: this daemon cannot reload its configuration", ErrReloadRefused))
		return
	}
	res, err := s.reload(r.Context())
	if err != nil {
		s.reject(w, r, "reload", "", "", err)
		return
	}
	s.audit(r.Context(), callerOf(r), "reload", "", "", release.OutcomeOK,
		fmt.Sprintf("added %v removed %v updated %d unchanged %d", res.Added, res.Removed, len(res.Updated), len(res.Unchanged)))
	writeJSON(w, http.StatusOK, res)
}
