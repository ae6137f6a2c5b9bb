package webhook

import "strings"

// imageRef is an image reference split into registry host and repository
// path, tag and digest dropped, both lower-cased: registries treat
// repository names case-insensitively in practice (GHCR lower-cases owner
// names), and comparing lower-case avoids false 403s.
type imageRef struct {
	Host string // "docker.io" for Docker Hub, whatever its spelling
	Path string // "acme/web", "library/nginx"
}

// parseImage splits ref ("ghcr.io/acme/web:v1", "nginx", "acme/web@sha256:…").
// The first path element is a host when it contains "." or ":" or is
// "localhost", as in Docker's own rule.
func parseImage(ref string) imageRef {
	ref = strings.ToLower(strings.TrimSpace(ref))
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	// Repository paths never contain ':', so the tag starts at the first
	// ':' after the first '/' (a ':' before it is a registry port), or at
	// the first ':' when there is no '/'.
	first := strings.IndexByte(ref, '/') + 1
	if i := strings.IndexByte(ref[first:], ':'); i >= 0 {
		ref = ref[:first+i]
	}
	host := "docker.io"
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		first := ref[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" {
			host, ref = first, ref[i+1:]
		}
	}
	switch host {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		host = "docker.io"
	}
	if host == "docker.io" && !strings.Contains(ref, "/") && ref != "" {
		ref = "library/" + ref
	}
	return imageRef{Host: host, Path: ref}
}

// String is the canonical "host/path".
func (r imageRef) String() string { return r.Host + "/" + r.Path }

// Name is the last path element, the package name on GitHub.
func (r imageRef) Name() string {
	return r.Path[strings.LastIndexByte(r.Path, '/')+1:]
}
