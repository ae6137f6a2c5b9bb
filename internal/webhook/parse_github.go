package webhook

import (
	"encoding/json"
	"fmt"
	"strings"
)

// GitHub event names that can deploy. EventDeploy is ours: a workflow step
// posts it with the generic body.
const (
	EventPackage         = "package"
	EventRegistryPackage = "registry_package"
	EventRelease         = "release"
	EventDeploy          = "deploy"
	EventPing            = "ping"
)

type ghUser struct {
	Login string `json:"login"`
}

type ghPackage struct {
	Name        string `json:"name"`
	Namespace   string `json:"namespace"`
	PackageType string `json:"package_type"`
	Ecosystem   string `json:"ecosystem"`
	Owner       ghUser `json:"owner"`
	Version     *struct {
		PackageURL        string `json:"package_url"`
		ContainerMetadata *struct {
			Tag struct {
				Name string `json:"name"`
			} `json:"tag"`
		} `json:"container_metadata"`
	} `json:"package_version"`
}

type ghRelease struct {
	TagName         string `json:"tag_name"`
	Name            string `json:"name"`
	TargetCommitish string `json:"target_commitish"`
	Draft           bool   `json:"draft"`
	Author          ghUser `json:"author"`
}

type ghPayload struct {
	Action          string     `json:"action"`
	Package         *ghPackage `json:"package"`
	RegistryPackage *ghPackage `json:"registry_package"`
	Release         *ghRelease `json:"release"`
	Sender          ghUser     `json:"sender"`
}

// ParseGitHub reads a GitHub webhook body already authenticated for svc.
// It is pure: no I/O, no clock. Errors wrap ErrIgnored (authentic but not
// a deploy), ErrMalformed, ErrRepoMismatch or version.ErrInvalid. The
// caller handles "ping" and fills DeliveryID and Remote.
func ParseGitHub(event string, body []byte, svc Service) (Request, error) {
	switch event {
	case EventDeploy:
		return parseDeployBody(body, svc, KindGitHub, EventDeploy)
	case EventPackage, EventRegistryPackage, EventRelease:
	default:
		return Request{}, fmt.Errorf("%w: event %q does not deploy", ErrIgnored, cleanText(event, 64))
	}
	var p ghPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if p.Action != "published" {
		return Request{}, fmt.Errorf("%w: %s action %q does not deploy", ErrIgnored, event, cleanText(p.Action, 64))
	}
	req := Request{
		Service:     svc.Name,
		Source:      SourceWebhook,
		WebhookKind: KindGitHub,
		Event:       event,
		Author:      cleanText(p.Sender.Login, MaxAuthorLen),
	}
	if event == EventRelease {
		return parseRelease(p.Release, svc, req)
	}
	pkg := p.Package
	if event == EventRegistryPackage {
		pkg = p.RegistryPackage
	}
	return parsePackage(pkg, svc, req)
}

func parseRelease(rel *ghRelease, svc Service, req Request) (Request, error) {
	if rel == nil {
		return Request{}, fmt.Errorf("%w: release event without release", ErrMalformed)
	}
	if rel.Draft {
		return Request{}, fmt.Errorf("%w: draft release", ErrIgnored)
	}
	if err := svc.validator().Validate(rel.TagName); err != nil {
		return Request{}, fmt.Errorf("release tag: %w", err)
	}
	req.Version = rel.TagName
	req.Note = cleanText("GitHub release "+rel.Name, MaxNoteLen)
	req.Commit = cleanText(rel.TargetCommitish, MaxCommitLen)
	if a := cleanText(rel.Author.Login, MaxAuthorLen); a != "" {
		req.Author = a
	}
	return req, nil
}

func parsePackage(pkg *ghPackage, svc Service, req Request) (Request, error) {
	if pkg == nil {
		return Request{}, fmt.Errorf("%w: %s event without package", ErrMalformed, req.Event)
	}
	kind := strings.ToLower(pkg.PackageType)
	if kind == "" {
		kind = strings.ToLower(pkg.Ecosystem)
	}
	if kind != "" && kind != "container" && kind != "docker" {
		return Request{}, fmt.Errorf("%w: %s package is not a container", ErrIgnored, cleanText(kind, 32))
	}
	if pkg.Version == nil {
		return Request{}, fmt.Errorf("%w: package without package_version", ErrMalformed)
	}
	if err := matchPackage(pkg, svc); err != nil {
		return Request{}, err
	}
	meta := pkg.Version.ContainerMetadata
	if meta == nil || meta.Tag.Name == "" {
		return Request{}, fmt.Errorf("%w: untagged package version", ErrIgnored)
	}
	tag := meta.Tag.Name
	if strings.HasPrefix(tag, "sha256-") {
		// cosign signatures, attestations and SBOMs are pushed as tags
		// "sha256-<digest>.sig|.att|.sbom"; they are not releases.
		return Request{}, fmt.Errorf("%w: artefact tag", ErrIgnored)
	}
	if err := svc.validator().Validate(tag); err != nil {
		return Request{}, fmt.Errorf("package tag: %w", err)
	}
	req.Version = tag
	req.Note = cleanText("GitHub package published", MaxNoteLen)
	return req, nil
}

// matchPackage checks that the package is the service's image: always by
// name (last path element), and by full ghcr.io/<owner>/<name> when the
// payload gives the owner or the package URL.
func matchPackage(pkg *ghPackage, svc Service) error {
	want := parseImage(svc.Image)
	name := strings.ToLower(strings.ReplaceAll(pkg.Name, "%2F", "/"))
	name = strings.ReplaceAll(name, "%2f", "/")
	if name == "" || name[strings.LastIndexByte(name, '/')+1:] != want.Name() {
		return fmt.Errorf("%w: package %q", ErrRepoMismatch, cleanText(pkg.Name, 128))
	}
	full := ""
	switch {
	case pkg.Version.PackageURL != "":
		full = parseImage(pkg.Version.PackageURL).String()
	case pkg.Namespace != "":
		full = parseImage("ghcr.io/" + pkg.Namespace + "/" + name).String()
	case pkg.Owner.Login != "":
		full = parseImage("ghcr.io/" + pkg.Owner.Login + "/" + name).String()
	}
	if full != "" && full != want.String() {
		return fmt.Errorf("%w: package %q", ErrRepoMismatch, cleanText(full, 256))
	}
	return nil
}
