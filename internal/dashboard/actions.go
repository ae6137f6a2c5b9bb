package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// confirmData is a confirmation page: exactly what the action will do, and
// the form that does it (absent when it cannot be done).
type confirmData struct {
	Action, Service, Version string
	ExpectLive               string // the live version the description assumed
	Headline                 string
	Steps                    []string
	Button                   string
	Problem                  string // why it cannot be done now; no form then
	FromLink                 bool
}

// describe says what an action on service will do, given what runs now.
func describe(row serviceRow, action, version string) confirmData {
	c := confirmData{Action: action, Service: row.Name, Version: version}
	live := ""
	if row.Live != nil {
		live = row.Live.Version
	}
	c.ExpectLive = live
	switch action {
	case ActRollback:
		if version == "" && row.Warm != nil {
			version = row.Warm.Version
			c.Version = version
		}
		c.Problem = refusal(row, version, live, "No version is warm. Pick an earlier release to roll back to from the service's history.")
		if c.Problem == "" {
			c.Headline = fmt.Sprintf("Roll %s back from %s to %s", row.Name, live, version)
			first := fmt.Sprintf("%s is started again and health-checked; if it fails, nothing changes and %s keeps serving.", version, live)
			if row.Warm != nil && row.Warm.Version == version {
				c.Headline += " (warm)"
				first = fmt.Sprintf("%s is still running (warm); it is health-checked once.", version)
			}
			c.Steps = []string{first,
				fmt.Sprintf("Traffic moves from %s to %s in one switch: no request is dropped.", live, version),
				fmt.Sprintf("%s finishes its in-flight requests, is stopped and recorded as rolled back.", live),
			}
		}
		c.Button = "Roll back to " + version
	case ActDeploy:
		c.Problem = refusal(row, version, live, "Give a version to deploy.")
		if c.Problem == "" {
			c.Headline = fmt.Sprintf("Deploy %s %s", row.Name, version)
			c.Steps = []string{fmt.Sprintf("%s is started beside the live version and health-checked; if it fails, nothing changes.", version)}
			if live != "" {
				c.Steps = append(c.Steps,
					fmt.Sprintf("Traffic moves from %s to %s (as the service's strategy says: at once, or canary steps).", live, version),
					fmt.Sprintf("%s stays running (warm) for a while, so rolling back is one switch.", live))
			} else {
				c.Steps = append(c.Steps, fmt.Sprintf("Traffic starts going to %s.", version))
			}
		}
		c.Button = "Deploy " + version
	case ActPromote, ActAbort:
		a := row.Active
		if a == nil || a.Kind != "deploy" {
			c.Problem = "No deploy is in progress to " + action + "."
			break
		}
		c.Version = a.Version
		if action == ActPromote {
			c.Headline = fmt.Sprintf("Promote %s %s (release #%d)", row.Name, a.Version, a.Release)
			c.Steps = []string{
				fmt.Sprintf("The held or canary deploy of %s goes on at once: all traffic moves to it.", a.Version),
				fmt.Sprintf("%s stays warm, so rolling back is one switch.", live)}
			c.Button = "Promote " + a.Version
		} else {
			c.Headline = fmt.Sprintf("Abort the deploy of %s %s (release #%d)", row.Name, a.Version, a.Release)
			c.Steps = []string{
				fmt.Sprintf("Any canary or preview traffic returns to %s, which keeps serving.", live),
				fmt.Sprintf("%s is stopped and the release recorded as aborted.", a.Version)}
			c.Button = "Abort " + a.Version
		}
	default:
		c.Problem = "Unknown action."
	}
	return c
}

// refusal is why version cannot be made live now, "" when it can; missing
// is the reason when no version was given.
func refusal(row serviceRow, version, live, missing string) string {
	switch {
	case version == "":
		return missing
	case version == live:
		return version + " is already live."
	case row.Active != nil:
		return fmt.Sprintf("A %s of %s (release #%d) is in progress; wait for it or abort it first.", row.Active.Kind, row.Active.Version, row.Active.Release)
	}
	return ""
}

func (h *Handler) row(ctx context.Context, name string) (serviceRow, error) {
	rows, err := h.serviceRows(ctx)
	if err != nil {
		return serviceRow{}, err
	}
	i := slices.IndexFunc(rows, func(r serviceRow) bool { return r.Name == name })
	if i < 0 {
		return serviceRow{}, ErrNotFound
	}
	return rows[i], nil
}

// confirm shows what an action will do, with the form that does it.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	if !s.canAct {
		h.fail(w, r, s, http.StatusForbidden, "Your token has the viewer role: it can look, not act.")
		return
	}
	row, err := h.row(r.Context(), q.Get("service"))
	if err != nil {
		h.fail(w, r, s, http.StatusNotFound, "No such service.")
		return
	}
	h.render(w, http.StatusOK, "confirm", h.newPage(s, "Confirm", describe(row, q.Get("action"), q.Get("version"))))
}

// rollbackLink is where a notification's signed link lands: the
// confirmation of rolling that release back, if it is still live.
func (h *Handler) rollbackLink(w http.ResponseWriter, r *http.Request, s *session) {
	svc, rel, err := verifyLink(h.linkKey, r.URL.Query(), h.now())
	if err != nil {
		h.fail(w, r, s, http.StatusForbidden, err.Error())
		return
	}
	if !s.canAct {
		h.fail(w, r, s, http.StatusForbidden, "Your token has the viewer role: it can look, not act.")
		return
	}
	row, err := h.row(r.Context(), svc)
	if err != nil {
		h.fail(w, r, s, http.StatusNotFound, "No such service.")
		return
	}
	c := describe(row, ActRollback, "")
	c.FromLink = true
	if row.Live == nil || row.Live.Release != rel {
		now := "nothing"
		if row.Live != nil {
			now = fmt.Sprintf("%s (release #%d)", row.Live.Version, row.Live.Release)
		}
		c.Problem = fmt.Sprintf("Release #%d is no longer live on %s: %s is. This link no longer applies; look at the service page.", rel, svc, now)
	}
	h.render(w, http.StatusOK, "confirm", h.newPage(s, "Confirm", c))
}

// act does a confirmed action: deployer role, CSRF token and origin, and
// the state the confirmation described, or nothing happens.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, s *session) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, s, http.StatusBadRequest, "Bad form.")
		return
	}
	a := Action{Kind: r.PostFormValue("action"), Service: r.PostFormValue("service"), Version: r.PostFormValue("version"),
		Note: r.PostFormValue("note"), Actor: s.name}
	refuse := func(status int, msg string) {
		h.audit(r, s.name, "dashboard "+a.Kind, a.Service, a.Version, "rejected", msg)
		h.fail(w, r, s, status, msg)
	}
	if !s.canAct {
		refuse(http.StatusForbidden, "Your token has the viewer role: it can look, not act.")
		return
	}
	if err := h.checkAction(r, s); err != nil {
		refuse(http.StatusForbidden, err.Error())
		return
	}
	if !slices.Contains([]string{ActDeploy, ActRollback, ActPromote, ActAbort}, a.Kind) {
		refuse(http.StatusBadRequest, "Unknown action.")
		return
	}
	row, err := h.row(r.Context(), a.Service)
	if err != nil {
		refuse(http.StatusNotFound, "No such service.")
		return
	}
	if live := liveVersion(row); live != r.PostFormValue("expect_live") {
		refuse(http.StatusConflict, fmt.Sprintf("What runs changed since you confirmed (live is now %q): nothing was done. Review it again.", live))
		return
	}
	id, err := h.b.Act(r.Context(), a)
	if err != nil {
		status := http.StatusConflict
		if errors.Is(err, ErrNotFound) {
			status = http.StatusNotFound
		}
		refuse(status, err.Error())
		return
	}
	h.audit(r, s.name, "dashboard "+a.Kind, a.Service, a.Version, "ok", "release #"+strconv.FormatInt(id, 10))
	http.Redirect(w, r, h.prefix+"/releases/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

func liveVersion(row serviceRow) string {
	if row.Live == nil {
		return ""
	}
	return row.Live.Version
}
