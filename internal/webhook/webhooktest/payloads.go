package webhooktest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Payload builders producing bodies shaped like the real senders' (with the
// fields hotswap ignores, so parsers are tested against realistic noise).
// They are exported for the daemon's end-to-end tests.

// PackageEvent describes a GitHub "package" or "registry_package" delivery.
type PackageEvent struct {
	Event  string // "package" (default) or "registry_package"
	Action string // default "published"
	Owner  string // GitHub owner, e.g. "acme"
	Name   string // package name, e.g. "web"
	Tag    string // container tag; "" for an untagged version
	Type   string // package_type; default "CONTAINER"
	// Bare omits package_url, namespace and owner, so only the name can be
	// compared.
	Bare bool
}

// JSON renders the delivery body.
func (p PackageEvent) JSON() []byte {
	if p.Event == "" {
		p.Event = "package"
	}
	if p.Action == "" {
		p.Action = "published"
	}
	if p.Type == "" {
		p.Type = "CONTAINER"
	}
	digest := "sha256:" + fmt.Sprintf("%064x", len(p.Name)+len(p.Tag))
	version := map[string]any{
		"id":                   90210,
		"version":              digest,
		"name":                 digest,
		"description":          "",
		"summary":              "",
		"html_url":             fmt.Sprintf("https://github.com/%s/%s/pkgs/container/%s/90210", p.Owner, p.Name, p.Name),
		"target_commitish":     "main",
		"target_oid":           "0123456789abcdef0123456789abcdef01234567",
		"created_at":           "2024-05-01T10:00:00Z",
		"updated_at":           "2024-05-01T10:00:00Z",
		"metadata":             []any{},
		"package_files":        []any{},
		"installation_command": fmt.Sprintf("docker pull ghcr.io/%s/%s:%s", p.Owner, p.Name, p.Tag),
	}
	meta := map[string]any{
		"labels":   map[string]any{"org.opencontainers.image.source": "https://github.com/" + p.Owner + "/" + p.Name},
		"manifest": map[string]any{"mediaType": "application/vnd.oci.image.index.v1+json"},
	}
	if p.Tag != "" {
		meta["tag"] = map[string]any{"name": p.Tag, "digest": digest}
	} else {
		meta["tag"] = map[string]any{"name": "", "digest": digest}
	}
	version["container_metadata"] = meta
	pkg := map[string]any{
		"id":           4242,
		"name":         p.Name,
		"description":  nil,
		"ecosystem":    p.Type,
		"package_type": p.Type,
		"html_url":     fmt.Sprintf("https://github.com/orgs/%s/packages/container/package/%s", p.Owner, p.Name),
		"created_at":   "2024-01-01T00:00:00Z",
		"updated_at":   "2024-05-01T10:00:00Z",
		"registry": map[string]any{
			"about_url": "https://docs.github.com/packages",
			"name":      "GitHub CR",
			"type":      "docker",
			"url":       "https://ghcr.io/" + p.Owner,
			"vendor":    "GitHub Inc",
		},
		"package_version": version,
	}
	if !p.Bare {
		pkg["namespace"] = p.Owner
		pkg["owner"] = map[string]any{"login": p.Owner, "id": 1, "type": "Organization"}
		version["package_url"] = fmt.Sprintf("ghcr.io/%s/%s:%s", p.Owner, p.Name, p.Tag)
	}
	return mustJSON(map[string]any{
		"action": p.Action,
		p.Event:  pkg,
		"repository": map[string]any{
			"id": 77, "name": p.Name, "full_name": p.Owner + "/" + p.Name, "private": true,
		},
		"organization": map[string]any{"login": p.Owner, "id": 1},
		"sender":       map[string]any{"login": "octocat", "id": 583231, "type": "User"},
	})
}

// Release renders a GitHub "release" delivery.
func Release(action, tag, name string, draft bool) []byte {
	return mustJSON(map[string]any{
		"action": action,
		"release": map[string]any{
			"id": 1, "tag_name": tag, "name": name, "draft": draft, "prerelease": false,
			"target_commitish": "main", "body": "changelog\n- fixes",
			"author":     map[string]any{"login": "release-bot", "id": 2},
			"created_at": "2024-05-01T10:00:00Z", "published_at": "2024-05-01T10:01:00Z",
			"assets": []any{},
		},
		"repository": map[string]any{"id": 77, "name": "web", "full_name": "acme/web"},
		"sender":     map[string]any{"login": "octocat", "id": 583231},
	})
}

// Deploy renders the body of the generic endpoint and of GitHub's "deploy"
// event.
func Deploy(version, note, commit, author string) []byte {
	return mustJSON(map[string]string{"version": version, "note": note, "commit": commit, "author": author})
}

// DockerHubPush renders a Docker Hub push delivery for repo ("acme/api").
func DockerHubPush(repo, tag string, pushedAt int64) []byte {
	namespace, name := "library", repo
	if i := strings.LastIndexByte(repo, '/'); i >= 0 {
		namespace, name = repo[:i], repo[i+1:]
	}
	return mustJSON(map[string]any{
		"callback_url": "https://registry.hub.docker.com/u/" + repo + "/hook/0a1b2c3d4e5f/",
		"push_data":    map[string]any{"pushed_at": pushedAt, "pusher": "ci-bot", "tag": tag, "images": []any{}},
		"repository": map[string]any{
			"comment_count": 0, "date_created": 1700000000, "description": "", "full_description": "",
			"is_official": false, "is_private": true, "is_trusted": false,
			"name": name, "namespace": namespace,
			"owner": "acme", "repo_name": repo, "repo_url": "https://hub.docker.com/r/" + repo,
			"star_count": 0, "status": "Active",
		},
	})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("webhooktest: marshal payload: %v", err))
	}
	return b
}
