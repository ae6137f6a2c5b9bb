package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hotswap/hotswap/internal/deploy"
)

// heartbeat keeps idle event streams alive through proxies and lets the
// server notice a client that went away.
const heartbeat = 15 * time.Second

// events streams a release's steps as NDJSON as they happen. With follow=1
// it ends with the release once the deployment has finished writing; without
// it, it writes what exists and the release, and ends.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, fmt.Errorf("%w: release id %q is not a number", errBadRequest, r.PathValue("id")))
		return
	}
	if _, err := s.store.GetRelease(r.Context(), id); err != nil {
		writeError(w, err)
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	follow := r.URL.Query().Get("follow") == "1"
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	enc := json.NewEncoder(w)
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		changed := s.engine.Changed()
		rel, err := s.store.GetRelease(r.Context(), id)
		if err != nil {
			return // the client sees the stream end without a release line
		}
		done := !follow || (deploy.Settled(rel.State) && !s.engine.Running(id))
		if state, why, ok := s.engine.Unrecorded(id); ok && !deploy.Settled(rel.State) {
			// It ended, but the store refused to record how (a full disk):
			// say so rather than follow a "deploying" row forever.
			rel.State, rel.Error, done = state, why, true
		}
		evs, err := s.store.Events(r.Context(), id, after)
		if err != nil {
			return
		}
		for _, e := range evs {
			ev := toEvent(e)
			if enc.Encode(StreamLine{Event: &ev}) != nil {
				return
			}
			after = e.ID
		}
		if done {
			out := toRelease(rel)
			_ = enc.Encode(StreamLine{Release: &out})
			flush()
			return
		}
		flush()
		select {
		case <-changed:
		case <-tick.C:
			if _, err := w.Write([]byte("{}\n")); err != nil {
				return
			}
			flush()
		case <-r.Context().Done():
			return
		}
	}
}
