// Package webhooktest holds the webhook handler's end-to-end suite, run
// over real signed HTTP requests, so the same cases can be run against the
// in-memory Enqueuer here and against the real deploy engine by the
// daemon's tests. It also provides payload builders and MemEnqueuer.
package webhooktest

import (
	"context"
	"fmt"
	"sync"

	"github.com/hotswap/hotswap/internal/version"
	"github.com/hotswap/hotswap/internal/webhook"
)

// MemEnqueuer is an in-memory webhook.Enqueuer with real deduplication on
// (Service, WebhookKind, DeliveryID), for tests that do not need the deploy
// engine. It validates versions like the engine would.
type MemEnqueuer struct {
	services map[string]webhook.Service // read-only after construction

	mu       sync.Mutex // guards next, seen, requests
	next     int64
	seen     map[dedupKey]int64
	requests []webhook.Request
}

type dedupKey struct {
	service, kind, delivery string
}

var _ webhook.Enqueuer = (*MemEnqueuer)(nil)

// NewMemEnqueuer knows exactly the given services.
func NewMemEnqueuer(services []webhook.Service) *MemEnqueuer {
	m := &MemEnqueuer{services: make(map[string]webhook.Service), seen: make(map[dedupKey]int64)}
	for _, s := range services {
		m.services[s.Name] = s
	}
	return m
}

// Enqueue records req as a new deploy unless its delivery was seen.
func (m *MemEnqueuer) Enqueue(ctx context.Context, req webhook.Request) (int64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, fmt.Errorf("enqueue %s: %w", req.Service, err)
	}
	svc, ok := m.services[req.Service]
	if !ok {
		return 0, false, fmt.Errorf("enqueue %q: %w", req.Service, webhook.ErrUnknownService)
	}
	v := svc.Versions
	if v == nil {
		v = version.Default
	}
	if err := v.Validate(req.Version); err != nil {
		return 0, false, fmt.Errorf("enqueue %s: %w", req.Service, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := dedupKey{req.Service, string(req.WebhookKind), req.DeliveryID}
	if req.DeliveryID != "" {
		if id, ok := m.seen[key]; ok {
			return id, true, nil
		}
	}
	m.next++
	if req.DeliveryID != "" {
		m.seen[key] = m.next
	}
	m.requests = append(m.requests, req)
	return m.next, false, nil
}

// Requests returns the requests that created deploys, in order.
func (m *MemEnqueuer) Requests() []webhook.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]webhook.Request(nil), m.requests...)
}
