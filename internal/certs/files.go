package certs

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"time"
)

// fileSet is an immutable index of the file certificates: exact names,
// wildcard parents ("*.example.com" under "example.com") and the default.
type fileSet struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate
	fallback *tls.Certificate
}

// match returns the file certificate for name, not the default.
func (fs *fileSet) match(name string) *tls.Certificate {
	if c := fs.exact[name]; c != nil {
		return c
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return fs.wildcard[name[i+1:]]
	}
	return nil
}

func buildFileSet(pairs []*watchedPair) *fileSet {
	fs := &fileSet{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}}
	for _, p := range pairs {
		if len(p.file.Hosts) == 0 {
			fs.fallback = p.cert
		}
		for _, h := range p.file.Hosts {
			h = normalise(h)
			if rest, ok := strings.CutPrefix(h, "*."); ok {
				fs.wildcard[rest] = p.cert
			} else {
				fs.exact[h] = p.cert
			}
		}
	}
	return fs
}

// watchedPair is one configured certificate file pair, the certificate
// last loaded from it and what the files looked like then.
type watchedPair struct {
	file          File
	cert          *tls.Certificate
	certFI, keyFI os.FileInfo
}

// load reads the pair if either file changed (size, modification time, or
// a new file renamed into place) since the last load. It returns whether
// it loaded something new. On error the previous certificate stays.
func (w *watchedPair) load() (bool, error) {
	cfi, err := os.Stat(w.file.Cert)
	if err != nil {
		return false, err
	}
	kfi, err := os.Stat(w.file.Key)
	if err != nil {
		return false, err
	}
	if w.cert != nil && same(w.certFI, cfi) && same(w.keyFI, kfi) {
		return false, nil
	}
	c, err := tls.LoadX509KeyPair(w.file.Cert, w.file.Key)
	if err != nil {
		return false, err // e.g. the certificate was replaced, the key not yet
	}
	if err := checkHosts(c, w.file.Hosts); err != nil {
		return false, err
	}
	w.cert, w.certFI, w.keyFI = &c, cfi, kfi
	return true, nil
}

func same(a, b os.FileInfo) bool {
	return a != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// checkHosts refuses a certificate that does not name the hosts it is
// configured for: serving it would fail every client's verification.
func checkHosts(c tls.Certificate, hosts []string) error {
	for _, h := range hosts {
		name := h
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			name = "x." + rest // any one label: the wildcard must match it
		}
		if err := c.Leaf.VerifyHostname(name); err != nil {
			return fmt.Errorf("certificate does not cover %s: %w", h, err)
		}
	}
	return nil
}

// Reload checks every certificate file now and swaps in the pairs that
// changed and load; a pair that fails keeps serving its previous
// certificate and is reported (logged and alerted). It returns the first
// failure.
func (m *Manager) Reload() error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	changed := false
	var first error
	for _, w := range m.watch {
		ok, err := w.load()
		if err != nil {
			if first == nil {
				first = fmt.Errorf("reload %s: %w", w.file.Cert, err)
			}
			m.opts.Log.Warn("tls: certificate file not reloaded; the previous one keeps serving",
				"cert", w.file.Cert, "key", w.file.Key, "err", err)
			m.alert(Alert{Host: strings.Join(w.file.Hosts, ","), Problem: "reload failed",
				Detail: fmt.Sprintf("%s: %v", w.file.Cert, err), Expires: notAfter(w.cert)},
				"reload:"+w.file.Cert+":"+err.Error())
			continue
		}
		if ok {
			changed = true
			m.opts.Log.Info("tls: certificate file loaded", "cert", w.file.Cert, "expires", notAfter(w.cert))
		}
	}
	if changed {
		m.files.Store(buildFileSet(m.watch))
	}
	return first
}

func notAfter(c *tls.Certificate) time.Time {
	if c == nil || c.Leaf == nil {
		return time.Time{}
	}
	return c.Leaf.NotAfter
}
