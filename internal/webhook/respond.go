package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/hotswap/hotswap/internal/version"
)

// call is one request in flight: what to answer and what to audit. It is
// owned by the request's goroutine.
type call struct {
	h *Handler
	w http.ResponseWriter
	r *http.Request
	e Entry
}

type acceptedBody struct {
	ID        int64  `json:"id"`
	StatusURL string `json:"status_url"`
	Duplicate bool   `json:"duplicate"`
}

type statusBody struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

type errorBody struct {
	Error string `json:"error"`
}

// statusOf is the one place errors become HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrIgnored):
		return http.StatusAccepted
	case errors.Is(err, ErrRepoMismatch):
		return http.StatusForbidden
	case errors.Is(err, ErrMalformed), errors.Is(err, version.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownService):
		return http.StatusNotFound
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// fail answers a parse or enqueue error. Messages about the caller's own
// payload go back to it; anything else is "internal error" to the caller
// and the full text only to the audit log.
func (c *call) fail(err error) {
	status := statusOf(err)
	switch status {
	case http.StatusAccepted:
		c.reply(status, OutcomeIgnored, err.Error(), statusBody{Status: "ignored", Reason: err.Error()})
	case http.StatusInternalServerError:
		c.reject(status, "internal error", err.Error())
	case http.StatusServiceUnavailable:
		c.reject(status, "unavailable, retry later", err.Error())
	default:
		c.reject(status, err.Error(), err.Error())
	}
}

// reject answers an error: public goes to the caller, reason to the audit.
func (c *call) reject(status int, public, reason string) {
	c.reply(status, OutcomeRejected, reason, errorBody{Error: public})
}

// reply audits, logs and writes the response, in that order, so the audit
// record exists before the CI sees the answer.
func (c *call) reply(status int, outcome Outcome, reason string, body any) {
	c.e.Status, c.e.Outcome, c.e.Reason = status, outcome, reason
	c.h.opts.Auditor.Audit(context.WithoutCancel(c.r.Context()), c.e)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	c.h.log.Log(c.r.Context(), level, "webhook",
		"kind", c.e.Kind, "service", c.e.Service, "event", c.e.Event,
		"delivery", c.e.DeliveryID, "remote", c.e.Remote, "status", status,
		"outcome", outcome, "reason", reason, "version", c.e.Version, "deploy", c.e.DeployID)
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("X-Content-Type-Options", "nosniff")
	c.w.WriteHeader(status)
	if err := json.NewEncoder(c.w).Encode(body); err != nil {
		c.h.log.Debug("webhook: write response", "err", err)
	}
}
