package dashboard

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// serviceRow is one service with its versions' rates.
type serviceRow struct {
	ServiceView
	Live, Warm, Canary, Preview *versionRow
}

func (h *Handler) serviceRows(ctx context.Context) ([]serviceRow, error) {
	svcs, now, err := h.snap.services(ctx, h.b, h.now())
	if err != nil {
		return nil, err
	}
	keep := map[int64]bool{}
	rows := make([]serviceRow, len(svcs))
	for i, s := range svcs {
		rows[i] = serviceRow{ServiceView: s, Live: h.rates.row(now, s.Live), Warm: h.rates.row(now, s.Warm),
			Canary: h.rates.row(now, s.Canary), Preview: h.rates.row(now, s.Preview)}
		for _, v := range []*VersionView{s.Live, s.Warm, s.Canary, s.Preview} {
			if v != nil {
				keep[v.Release] = true
			}
		}
	}
	h.rates.forget(keep)
	return rows, nil
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, s *session) {
	rows, err := h.serviceRows(r.Context())
	if err != nil {
		h.fail(w, r, s, http.StatusInternalServerError, err.Error())
		return
	}
	p := h.newPage(s, "Services", rows)
	p.Live = h.prefix + "/live?view=overview"
	h.render(w, http.StatusOK, "overview", p)
}

// snapshotAge is how long one Backend.Services answer serves every viewer,
// unless something changed.
const snapshotAge = time.Second

// snapshot shares one Backend.Services answer between viewers for up to
// snapshotAge, so ten open dashboards do not read the engine's state ten
// times as often; any change (a new change channel) makes it stale at once.
type snapshot struct {
	mu   sync.Mutex // guards the fields below; held while asking the backend
	at   time.Time
	ch   <-chan struct{}
	svcs []ServiceView
}

// services returns the services and when they were read (the time rates
// are computed at).
func (s *snapshot) services(ctx context.Context, b Backend, now time.Time) ([]ServiceView, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := b.Changed()
	if s.svcs != nil && s.ch == ch && now.Sub(s.at) < snapshotAge {
		return s.svcs, s.at, nil
	}
	svcs, err := b.Services(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	s.at, s.ch, s.svcs = now, ch, svcs
	return svcs, now, nil
}

// serviceData is the service page.
type serviceData struct {
	Row     serviceRow
	Active  *releaseData // the deploy in progress, streamed
	History []ReleaseView
}

// releaseData is a release and its steps.
type releaseData struct {
	Release ReleaseView
	Steps   []StepView
}

// historyLimit is how many releases the service page lists.
const historyLimit = 50

func (h *Handler) serviceData(ctx context.Context, name string) (*serviceData, error) {
	rows, err := h.serviceRows(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(rows, func(r serviceRow) bool { return r.Name == name })
	if i < 0 {
		return nil, ErrNotFound
	}
	d := &serviceData{Row: rows[i]}
	if a := rows[i].Active; a != nil {
		if rel, steps, err := h.b.Release(ctx, a.Release); err == nil {
			d.Active = &releaseData{Release: rel, Steps: steps}
		}
	}
	if d.History, err = h.b.Releases(ctx, name, historyLimit); err != nil {
		return nil, err
	}
	return d, nil
}

func (h *Handler) servicePage(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("service")
	d, err := h.serviceData(r.Context(), name)
	if errors.Is(err, ErrNotFound) {
		h.fail(w, r, s, http.StatusNotFound, "No service named "+name+".")
		return
	}
	if err != nil {
		h.fail(w, r, s, http.StatusInternalServerError, err.Error())
		return
	}
	p := h.newPage(s, name, d)
	p.Live = h.prefix + "/live?view=service&service=" + urlQueryEscape(name)
	h.render(w, http.StatusOK, "service", p)
}

func (h *Handler) releaseData(ctx context.Context, raw string) (*releaseData, error) {
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return nil, ErrNotFound
	}
	rel, steps, err := h.b.Release(ctx, id)
	if err != nil {
		return nil, err
	}
	return &releaseData{Release: rel, Steps: steps}, nil
}

func (h *Handler) releasePage(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := h.releaseData(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		h.fail(w, r, s, http.StatusNotFound, "No such release.")
		return
	}
	if err != nil {
		h.fail(w, r, s, http.StatusInternalServerError, err.Error())
		return
	}
	p := h.newPage(s, "Release #"+r.PathValue("id"), d)
	p.Live = h.prefix + "/live?view=release&id=" + urlQueryEscape(r.PathValue("id"))
	h.render(w, http.StatusOK, "release", p)
}

// auditData is the audit page: entries and the filter.
type auditData struct {
	Service  string
	Services []string
	Entries  []AuditView
}

func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	svc := r.URL.Query().Get("service")
	entries, err := h.b.Audit(r.Context(), svc, 200)
	if err != nil {
		h.fail(w, r, s, http.StatusInternalServerError, err.Error())
		return
	}
	d := auditData{Service: svc, Entries: entries}
	if svcs, err := h.b.Services(r.Context()); err == nil {
		for _, v := range svcs {
			d.Services = append(d.Services, v.Name)
		}
	}
	h.render(w, http.StatusOK, "audit", h.newPage(s, "Audit log", d))
}
