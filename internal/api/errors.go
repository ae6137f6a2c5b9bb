package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hotswap/hotswap/internal/deploy"
	"github.com/hotswap/hotswap/internal/release"
	"github.com/hotswap/hotswap/internal/version"
)

// Error codes carried in every error body, so clients branch on a word and
// not on prose. The CLI maps them to exit codes (internal/cli/exit.go).
const (
	CodeInvalid      = "invalid"      // malformed request or version
	CodeNotFound     = "not_found"    // unknown service, release or version never deployed
	CodeBusy         = "busy"         // another deploy runs for this service
	CodeConflict     = "conflict"     // state does not allow it (already live, nothing to promote)
	CodeUnauthorized = "unauthorized" // missing or wrong token
	CodeForbidden    = "forbidden"    // the token's role does not allow it
	CodeUnavailable  = "unavailable"  // the daemon is shutting down
	CodeRateLimited  = "rate_limited" // too many rejected requests from this address
	CodeInternal     = "internal"     // a bug or an I/O failure
)

// ErrorBody is the JSON every failed API call answers with.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"error"`
}

// statusOf is the one place domain errors become HTTP status and code.
func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, version.ErrInvalid), errors.Is(err, errBadRequest), errors.Is(err, ErrReloadRefused):
		return http.StatusBadRequest, CodeInvalid
	case errors.Is(err, deploy.ErrUnknownService), errors.Is(err, deploy.ErrNeverDeployed),
		errors.Is(err, deploy.ErrNoPrevious), errors.Is(err, release.ErrNotFound):
		return http.StatusNotFound, CodeNotFound
	case errors.Is(err, deploy.ErrBusy):
		return http.StatusConflict, CodeBusy
	case errors.Is(err, deploy.ErrAlreadyLive), errors.Is(err, deploy.ErrNoDeployment), errors.Is(err, release.ErrConflict):
		return http.StatusConflict, CodeConflict
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized, CodeUnauthorized
	case errors.Is(err, errTooMany):
		return http.StatusTooManyRequests, CodeRateLimited
	case errors.Is(err, errForbidden):
		return http.StatusForbidden, CodeForbidden
	case errors.Is(err, deploy.ErrClosed):
		return http.StatusServiceUnavailable, CodeUnavailable
	}
	return http.StatusInternalServerError, CodeInternal
}

// ErrReloadRefused wraps every reason a configuration reload was refused
// before it changed anything (an invalid file, a setting only a restart
// can change): 400, code invalid.
var ErrReloadRefused = errors.New("reload refused; nothing changed")

var (
	errBadRequest   = errors.New("bad request")
	errUnauthorized = errors.New("unauthorized")
	errTooMany      = errors.New("rate limited")
	errForbidden    = errors.New("forbidden")
)

func writeError(w http.ResponseWriter, err error) {
	status, code := statusOf(err)
	writeJSON(w, status, ErrorBody{Code: code, Message: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}
