package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults for Options.
const (
	DefaultMaxBody          = 1 << 20 // GitHub package payloads run to tens of KiB
	DefaultWindow           = 5 * time.Minute
	DefaultEnqueueTimeout   = 10 * time.Second
	DefaultMaxReplayEntries = 10000
)

// Header names of the generic endpoint.
const (
	HeaderTimestamp = "X-Hotswap-Timestamp"
	HeaderSignature = "X-Hotswap-Signature"
	HeaderDelivery  = "X-Hotswap-Delivery"
)

// Options configures a Handler. Services, Enqueuer and Auditor are required.
type Options struct {
	Services Services
	Enqueuer Enqueuer
	Auditor  Auditor
	// Logger receives one line per request (no secrets); nil discards.
	Logger *slog.Logger
	// MaxBody is the largest accepted body in bytes; default 1 MiB.
	MaxBody int64
	// Window is how far a generic timestamp may be from now, either way;
	// default 5m.
	Window time.Duration
	// EnqueueTimeout bounds the Enqueue call; it is detached from the
	// client's connection so a CI giving up mid-request cannot leave a
	// half-recorded deploy. Default 10s.
	EnqueueTimeout time.Duration
	// MaxReplayEntries bounds the generic replay cache; default 10000.
	MaxReplayEntries int
	// Replay, when set, keeps the generic replay window durably (the
	// daemon's database) instead of in memory, so a captured request is
	// still refused after a restart. Errors refuse the request (503).
	Replay ReplayStore
	// Now is the clock; nil means time.Now. Tests pin it.
	Now func() time.Time
}

// Handler serves /hooks/…; mount it on the daemon's mux at "/hooks/"
// without stripping the prefix. It is safe for concurrent use; its only
// mutable state is the replay cache, which guards itself.
type Handler struct {
	opts   Options
	log    *slog.Logger
	replay *replayCache
}

var _ http.Handler = (*Handler)(nil)

// New checks opts and fills defaults.
func New(opts Options) (*Handler, error) {
	if opts.Services == nil || opts.Enqueuer == nil || opts.Auditor == nil {
		return nil, errors.New("webhook: Services, Enqueuer and Auditor are required")
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.EnqueueTimeout <= 0 {
		opts.EnqueueTimeout = DefaultEnqueueTimeout
	}
	if opts.MaxReplayEntries <= 0 {
		opts.MaxReplayEntries = DefaultMaxReplayEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{opts: opts, log: log, replay: newReplayCache(opts.MaxReplayEntries)}, nil
}

// ServeHTTP routes /hooks/{kind}/{service-or-token}. Routing is done here
// rather than by a ServeMux so that every request, even to an unknown
// path, is audited exactly once.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, _ := strings.CutPrefix(r.URL.Path, "/hooks/")
	kind, arg, ok := strings.Cut(rest, "/")
	if !ok || arg == "" || strings.Contains(arg, "/") {
		kind = ""
	}
	c := &call{h: h, w: w, r: r, e: Entry{At: h.opts.Now(), Kind: Kind(kind), Remote: r.RemoteAddr}}
	switch Kind(kind) {
	case KindGitHub:
		h.github(c, arg)
	case KindDockerHub:
		h.dockerHub(c, arg)
	case KindGeneric:
		h.generic(c, arg)
	default:
		c.e.Kind = ""
		c.reject(http.StatusNotFound, "not found", "no such endpoint")
	}
}

// begin runs the checks shared by every endpoint: method and body size.
func (h *Handler) begin(c *call) ([]byte, bool) {
	if c.r.Method != http.MethodPost {
		c.w.Header().Set("Allow", http.MethodPost)
		c.reject(http.StatusMethodNotAllowed, "method not allowed", "method "+cleanText(c.r.Method, 16))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, h.opts.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			msg := fmt.Sprintf("body larger than %d bytes", h.opts.MaxBody)
			c.reject(http.StatusRequestEntityTooLarge, msg, msg)
			return nil, false
		}
		c.reject(http.StatusBadRequest, "cannot read body", fmt.Sprintf("read body: %v", err))
		return nil, false
	}
	return body, true
}

func (h *Handler) github(c *call, name string) {
	c.e.Service = cleanText(name, 128)
	c.e.Event = cleanText(c.r.Header.Get("X-GitHub-Event"), 64)
	body, ok := h.begin(c)
	if !ok {
		return
	}
	svc, ok := h.opts.Services.Lookup(name)
	if !ok || len(svc.GitHubSecret) == 0 {
		c.reject(http.StatusNotFound, "unknown hook", "no service with a GitHub secret by that name")
		return
	}
	sig := c.r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		c.reject(http.StatusUnauthorized, "missing signature", "no X-Hub-Signature-256")
		return
	}
	if !validSignature(sig, SignGitHub(svc.GitHubSecret, body)) {
		c.reject(http.StatusUnauthorized, "invalid signature", "X-Hub-Signature-256 does not match")
		return
	}
	delivery := c.r.Header.Get("X-GitHub-Delivery")
	if !validDeliveryID(delivery) {
		c.reject(http.StatusBadRequest, "invalid delivery id", "malformed X-GitHub-Delivery")
		return
	}
	c.e.DeliveryID = delivery
	event := c.r.Header.Get("X-GitHub-Event")
	if event == EventPing {
		c.reply(http.StatusOK, OutcomePong, "", statusBody{Status: "pong"})
		return
	}
	req, err := ParseGitHub(event, body, svc)
	if err != nil {
		c.fail(err)
		return
	}
	req.DeliveryID = delivery
	c.enqueue(req)
}

func (h *Handler) dockerHub(c *call, token string) {
	body, ok := h.begin(c)
	if !ok {
		return
	}
	var svc Service
	found := false
	for _, s := range h.opts.Services.All() {
		// No early exit: every token is compared, so timing does not say
		// which service (if any) matched.
		if tokenEqual(token, s.DockerHubToken) && !found {
			svc, found = s, true
		}
	}
	if !found {
		c.reject(http.StatusNotFound, "unknown hook", "no service with that Docker Hub token")
		return
	}
	c.e.Service = svc.Name
	req, err := ParseDockerHub(body, svc)
	if err != nil {
		c.fail(err)
		return
	}
	c.e.DeliveryID = req.DeliveryID
	c.enqueue(req)
}

func (h *Handler) generic(c *call, name string) {
	c.e.Service = cleanText(name, 128)
	body, ok := h.begin(c)
	if !ok {
		return
	}
	svc, ok := h.opts.Services.Lookup(name)
	if !ok || len(svc.GenericSecret) == 0 {
		c.reject(http.StatusNotFound, "unknown hook", "no service with a generic secret by that name")
		return
	}
	ts, sig := c.r.Header.Get(HeaderTimestamp), c.r.Header.Get(HeaderSignature)
	switch {
	case ts == "":
		c.reject(http.StatusUnauthorized, "missing timestamp", "no "+HeaderTimestamp)
		return
	case sig == "":
		c.reject(http.StatusUnauthorized, "missing signature", "no "+HeaderSignature)
		return
	}
	expected := SignGeneric(svc.GenericSecret, ts, body)
	if !validSignature(sig, expected) {
		c.reject(http.StatusUnauthorized, "invalid signature", HeaderSignature+" does not match")
		return
	}
	// Signature first, then time: a caller without the secret learns
	// nothing about the window.
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec < 0 {
		c.reject(http.StatusUnauthorized, "invalid timestamp", "timestamp is not unix seconds")
		return
	}
	sent, now := time.Unix(sec, 0), h.opts.Now()
	if sent.Before(now.Add(-h.opts.Window)) || sent.After(now.Add(h.opts.Window)) {
		c.reject(http.StatusUnauthorized, "stale", fmt.Sprintf("timestamp %s outside ±%s", sent.UTC().Format(time.RFC3339), h.opts.Window))
		return
	}
	delivery := c.r.Header.Get(HeaderDelivery)
	if !validDeliveryID(delivery) {
		c.reject(http.StatusBadRequest, "invalid delivery id", "malformed "+HeaderDelivery)
		return
	}
	if delivery == "" {
		// Derived from, but not revealing, the signature: an identical
		// resend is a duplicate; a new timestamp is a new delivery.
		sum := sha256.Sum256([]byte(expected))
		delivery = "sig-" + hex.EncodeToString(sum[:16])
	}
	// The signature stays acceptable until sent+Window; remember it as
	// long, keyed by its canonical form.
	if h.opts.Replay != nil {
		claimed, err := h.opts.Replay.ClaimReplay(c.r.Context(), expected, delivery, sent.Add(h.opts.Window+time.Second))
		if err != nil {
			c.reject(http.StatusServiceUnavailable, "replay check failed", err.Error())
			return
		}
		delivery = claimed
	} else {
		delivery = h.replay.claim(expected, delivery, now, sent.Add(h.opts.Window+time.Second))
	}
	c.e.DeliveryID = delivery
	req, err := ParseGeneric(body, svc)
	if err != nil {
		c.fail(err)
		return
	}
	req.DeliveryID = delivery
	c.enqueue(req)
}

// enqueue hands an accepted request to the Enqueuer and answers 202.
func (c *call) enqueue(req Request) {
	req.Remote = c.e.Remote
	c.e.Version = req.Version
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.r.Context()), c.h.opts.EnqueueTimeout)
	defer cancel()
	id, dup, err := c.h.opts.Enqueuer.Enqueue(ctx, req)
	if err != nil {
		c.fail(fmt.Errorf("enqueue: %w", err))
		return
	}
	c.e.DeployID = id
	outcome := OutcomeAccepted
	if dup {
		outcome = OutcomeDuplicate
	}
	c.reply(http.StatusAccepted, outcome, "", acceptedBody{
		ID:        id,
		StatusURL: fmt.Sprintf("/v1/deploys/%d", id),
		Duplicate: dup,
	})
}
