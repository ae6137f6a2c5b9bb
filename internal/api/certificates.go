package api

import (
	"context"
	"net/http"
	"time"
)

// Certificate is the wire form of one HTTPS certificate's status
// (GET /v1/certificates): the host it serves ("" for the default file
// certificate), where it comes from ("acme" or "file"), who issued it,
// its validity, and a problem a person should look at, if any.
type Certificate struct {
	Host      string    `json:"host"`
	Source    string    `json:"source"`
	File      string    `json:"file,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	Problem   string    `json:"problem,omitempty"`
}

// certificates answers GET /v1/certificates: an empty list without
// proxy.tls.
func (s *Server) certificates(w http.ResponseWriter, r *http.Request) {
	out := []Certificate{}
	if s.certs != nil {
		out = append(out, s.certs(r.Context())...)
	}
	writeJSON(w, http.StatusOK, out)
}

// Certificates lists the HTTPS certificates and their status.
func (c *Client) Certificates(ctx context.Context) ([]Certificate, error) {
	var out []Certificate
	return out, c.do(ctx, http.MethodGet, "/v1/certificates", nil, &out)
}
