package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

type dhPayload struct {
	PushData struct {
		// PushedAt is kept raw: it only feeds the delivery id, and Docker
		// Hub has sent it both as an integer and as a float.
		PushedAt json.RawMessage `json:"pushed_at"`
		Pusher   string          `json:"pusher"`
		Tag      string          `json:"tag"`
	} `json:"push_data"`
	Repository struct {
		RepoName  string `json:"repo_name"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"repository"`
}

// ParseDockerHub reads a Docker Hub push body for the service whose token
// matched. It is pure. The repository must be the service's image on
// Docker Hub ("acme/web" for docker.io/acme/web, "library/nginx" or
// "nginx" for nginx). Docker Hub sends no delivery id, so one is derived
// from repository, tag and push time: a resent push is a duplicate, a new
// push of the same tag is not. Errors wrap ErrMalformed, ErrRepoMismatch
// or version.ErrInvalid.
func ParseDockerHub(body []byte, svc Service) (Request, error) {
	var p dhPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	repo := p.Repository.RepoName
	if repo == "" && p.Repository.Name != "" {
		repo = p.Repository.Namespace + "/" + p.Repository.Name
	}
	if repo == "" {
		return Request{}, fmt.Errorf("%w: no repository.repo_name", ErrMalformed)
	}
	got, want := parseImage(repo), parseImage(svc.Image)
	// repo_name never carries a host; one that parses with another host
	// (or an image elsewhere) cannot be this service's Docker Hub image.
	if got.Host != "docker.io" || want.Host != "docker.io" || got.Path != want.Path {
		return Request{}, fmt.Errorf("%w: repository %q", ErrRepoMismatch, cleanText(repo, 256))
	}
	tag := p.PushData.Tag
	if err := svc.validator().Validate(tag); err != nil {
		return Request{}, fmt.Errorf("push tag: %w", err)
	}
	req := Request{
		Service:     svc.Name,
		Version:     tag,
		Note:        "Docker Hub push",
		Author:      cleanText(p.PushData.Pusher, MaxAuthorLen),
		Source:      SourceWebhook,
		WebhookKind: KindDockerHub,
	}
	if len(p.PushData.PushedAt) > 0 && string(p.PushData.PushedAt) != "null" {
		h := sha256.New()
		for _, part := range [][]byte{[]byte(got.Path), []byte(tag), p.PushData.PushedAt} {
			h.Write(part)
			h.Write([]byte{0})
		}
		req.DeliveryID = "dockerhub-" + hex.EncodeToString(h.Sum(nil))[:32]
	}
	return req, nil
}
