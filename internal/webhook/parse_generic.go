package webhook

import (
	"encoding/json"
	"fmt"
)

// deployBody is the payload of the generic endpoint and of GitHub's
// "deploy" event: the version plus optional context for the history.
type deployBody struct {
	Version string `json:"version"`
	Note    string `json:"note"`
	Commit  string `json:"commit"`
	Author  string `json:"author"`
}

// ParseGeneric reads a generic-endpoint body already authenticated for svc.
// It is pure. Errors wrap ErrMalformed or version.ErrInvalid (a missing
// version is an empty, hence invalid, one). The caller fills DeliveryID
// and Remote.
func ParseGeneric(body []byte, svc Service) (Request, error) {
	return parseDeployBody(body, svc, KindGeneric, "")
}

func parseDeployBody(body []byte, svc Service, kind Kind, event string) (Request, error) {
	var b deployBody
	if err := json.Unmarshal(body, &b); err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := svc.validator().Validate(b.Version); err != nil {
		return Request{}, fmt.Errorf("version: %w", err)
	}
	return Request{
		Service:     svc.Name,
		Version:     b.Version,
		Note:        cleanText(b.Note, MaxNoteLen),
		Commit:      cleanText(b.Commit, MaxCommitLen),
		Author:      cleanText(b.Author, MaxAuthorLen),
		Source:      SourceWebhook,
		WebhookKind: kind,
		Event:       event,
	}, nil
}
