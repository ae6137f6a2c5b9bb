package dashboard

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// page is what every page template gets.
type page struct {
	Title  string
	Prefix string
	User   string
	CanAct bool
	CSRF   string
	Live   string // the SSE URL that updates this page, "" for none
	Data   any
}

func (h *Handler) newPage(s *session, title string, data any) page {
	p := page{Title: title, Prefix: h.prefix, Data: data}
	if s != nil {
		p.User, p.CanAct, p.CSRF = s.name, s.canAct, s.csrf
	}
	return p
}

// card is one service on the overview with the page it is on, so its
// fragments render alike in the page and in live updates.
type card struct {
	P page
	S serviceRow
}

// pageNames are the page templates, each web/<name>.html with the layout
// and the shared fragments.
var pageNames = []string{"login", "overview", "service", "release", "audit", "confirm", "error"}

func (h *Handler) parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"when":      fmtTime,
		"ago":       func(t time.Time) string { return ago(h.now(), t) },
		"until":     func(t time.Time) string { return until(h.now(), t) },
		"dur":       fmtDur,
		"pct":       func(f float64) string { return fmt.Sprintf("%.3g%%", f) },
		"commitURL": h.commitLink,
		"short":     shortCommit,
		"join":      strings.Join,
		"rest":      func(p float64) float64 { return 100 - p },
		"card":      func(p page, s serviceRow) card { return card{P: p, S: s} },
	}
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(webFS, "web/layout.html", "web/fragments.html", "web/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// render writes a whole page. Rendering into a buffer first means a
// template error becomes a clean 500, not half a page.
func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.Error("dashboard render", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fragment renders one named fragment of a page, for live updates.
func (h *Handler) fragment(name, frag string, data any) (string, error) {
	var buf bytes.Buffer
	err := h.pages[name].ExecuteTemplate(&buf, frag, data)
	return buf.String(), err
}

// fail shows an error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	h.render(w, status, "error", h.newPage(s, http.StatusText(status), msg))
}

// commitLink builds a commit's URL from dashboard.commit_url. The commit is
// outside input (webhooks, API callers): it is path-escaped, and the result
// is used only if it is still an http(s) URL, so no commit can turn the
// link into javascript: or point it at another host.
func (h *Handler) commitLink(commit string) string {
	if h.commitURL == "" || commit == "" {
		return ""
	}
	raw := strings.ReplaceAll(h.commitURL, "{commit}", url.PathEscape(commit))
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host != hostOf(h.commitURL) {
		return ""
	}
	return u.String()
}

func hostOf(tmpl string) string {
	u, err := url.Parse(strings.ReplaceAll(tmpl, "{commit}", "x"))
	if err != nil {
		return ""
	}
	return u.Host
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return roughly(now.Sub(t)) + " ago"
}

func until(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if !t.After(now) {
		return "now"
	}
	return "in " + roughly(t.Sub(now))
}

func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
