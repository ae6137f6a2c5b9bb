package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// liveTick refreshes traffic figures between changes; liveQuiet is the
// longest a stream stays silent (a comment line keeps proxies from
// closing it and tells the server when the client is gone).
const (
	liveTick  = 2 * time.Second
	liveQuiet = 15 * time.Second
)

// fragments renders the live parts of a view: element id → HTML.
type fragments func(ctx context.Context) (map[string]string, error)

// live streams a page's changing parts as Server-Sent Events. Each event
// "fragment" carries {"id": element id, "html": rendered HTML}, sent only
// when it differs from what this stream sent before; the page's script
// swaps it in. Changes arrive through the backend's change signal (the
// one the CLI's event stream waits on); the tick refreshes traffic rates.
func (h *Handler) live(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	render, ok := h.liveView(s, q.Get("view"), q.Get("service"), q.Get("id"))
	if !ok {
		h.fail(w, r, s, http.StatusBadRequest, "Unknown live view.")
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		h.fail(w, r, s, http.StatusInternalServerError, "Streaming unsupported.")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	sent := map[string]string{}
	tick := time.NewTicker(liveTick)
	defer tick.Stop()
	quiet := time.Now()
	for {
		changed := h.b.Changed()
		if h.sessions.get(s.id) == nil {
			fmt.Fprint(w, "event: logout\ndata: {}\n\n") // logged out or expired: stop updating
			fl.Flush()
			return
		}
		frags, err := render(r.Context())
		if err != nil {
			return
		}
		for id, html := range frags {
			if sent[id] == html {
				continue
			}
			b, _ := json.Marshal(map[string]string{"id": id, "html": html})
			if _, err := fmt.Fprintf(w, "event: fragment\ndata: %s\n\n", b); err != nil {
				return
			}
			sent[id] = html
			quiet = time.Now()
		}
		if time.Since(quiet) >= liveQuiet {
			if _, err := fmt.Fprint(w, ": quiet\n\n"); err != nil {
				return
			}
			quiet = time.Now()
		}
		fl.Flush()
		select {
		case <-changed:
		case <-tick.C:
		case <-r.Context().Done():
			return
		case <-h.closing:
			return
		}
	}
}

// liveView returns how to render the live fragments of one page.
func (h *Handler) liveView(s *session, view, service, id string) (fragments, bool) {
	switch view {
	case "overview":
		return func(ctx context.Context) (map[string]string, error) {
			rows, err := h.serviceRows(ctx)
			if err != nil {
				return nil, err
			}
			p := h.newPage(s, "", rows)
			out := make(map[string]string, 2*len(rows))
			for _, row := range rows {
				c := card{P: p, S: row}
				for id, tmpl := range map[string]string{"svc-" + row.Name: "svcdata", "act-" + row.Name: "svcactions"} {
					html, err := h.fragment("overview", tmpl, c)
					if err != nil {
						return nil, err
					}
					out[id] = html
				}
			}
			return out, nil
		}, true
	case "service":
		return func(ctx context.Context) (map[string]string, error) {
			d, err := h.serviceData(ctx, service)
			if err != nil {
				return nil, err
			}
			return h.frags("service", h.newPage(s, "", d), "status", "actions", "active", "history")
		}, true
	case "release":
		return func(ctx context.Context) (map[string]string, error) {
			d, err := h.releaseData(ctx, id)
			if err != nil {
				return nil, err
			}
			return h.frags("release", h.newPage(s, "", d), "release-head", "steps")
		}, true
	}
	return nil, false
}

func (h *Handler) frags(pageName string, p page, ids ...string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		html, err := h.fragment(pageName, id, p)
		if err != nil {
			return nil, err
		}
		out[id] = html
	}
	return out, nil
}
