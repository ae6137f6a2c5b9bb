package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Sink is one destination. The Notifier calls Send from the sink's own
// worker goroutine, one event at a time.
type Sink interface {
	// Name identifies the sink in logs and Attempt; never a URL.
	Name() string
	// Wants filters by kind.
	Wants(Kind) bool
	// Send delivers ev once. delivery is the same for every retry of the
	// same event. Errors: *HTTPError for a non-2xx answer, errors wrapping
	// ErrPermanent for what retrying cannot fix, anything else is treated
	// as a transient network failure.
	Send(ctx context.Context, ev Event, delivery string) error
}

// SinkOptions are shared by the built-in sinks.
type SinkOptions struct {
	// Name for logs; defaults to the sink type ("slack", "discord",
	// "webhook").
	Name string
	// Kinds the sink receives; empty means all.
	Kinds []Kind
	// Client sends the requests; nil means a client that does not follow
	// redirects (a webhook URL that redirects is misconfigured).
	Client *http.Client
}

// Headers of the generic JSON sink. The signature uses the same scheme as
// hotswap's own generic webhook endpoint, so receivers can share code.
const (
	HeaderEvent     = "X-Hotswap-Event"
	HeaderDelivery  = "X-Hotswap-Delivery"
	HeaderTimestamp = "X-Hotswap-Timestamp"
	HeaderSignature = "X-Hotswap-Signature"
)

// HTTPSink posts one JSON document per event. It is immutable after
// construction and safe for concurrent use.
type HTTPSink struct {
	name   string
	url    string // holds the secret for Slack and Discord: never logged
	kinds  []Kind
	client *http.Client
	secret []byte
	encode func(Event) ([]byte, error)
}

var _ Sink = (*HTTPSink)(nil)

// NewSlack posts {"text": …} to a Slack incoming webhook.
func NewSlack(webhookURL string, o SinkOptions) (*HTTPSink, error) {
	return newHTTPSink("slack", webhookURL, nil, o, func(ev Event) ([]byte, error) {
		return jsonBody(map[string]string{"text": truncate(slackEscape(ev.Message()), 3000)})
	})
}

// NewDiscord posts {"content": …} to a Discord webhook, with mentions
// disabled so text from a deploy (a reason, an actor) cannot ping anyone.
func NewDiscord(webhookURL string, o SinkOptions) (*HTTPSink, error) {
	return newHTTPSink("discord", webhookURL, nil, o, func(ev Event) ([]byte, error) {
		return jsonBody(map[string]any{
			"content":          truncate(ev.Message(), 2000),
			"allowed_mentions": map[string][]string{"parse": {}},
		})
	})
}

// NewWebhook posts the Event as JSON. With a secret, each attempt carries
// X-Hotswap-Timestamp and X-Hotswap-Signature = "sha256=" +
// hex(HMAC-SHA256(secret, timestamp + "." + body)).
func NewWebhook(webhookURL string, secret []byte, o SinkOptions) (*HTTPSink, error) {
	return newHTTPSink("webhook", webhookURL, secret, o, func(ev Event) ([]byte, error) {
		return jsonBody(ev)
	})
}

func newHTTPSink(kind, rawURL string, secret []byte, o SinkOptions, encode func(Event) ([]byte, error)) (*HTTPSink, error) {
	name := o.Name
	if name == "" {
		name = kind
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may hold a token: say what is wrong, not what it is.
		return nil, fmt.Errorf("notify: %s sink %q: URL must be http(s)://host/…", kind, name)
	}
	for _, k := range o.Kinds {
		if !slices.Contains(Kinds, k) {
			return nil, fmt.Errorf("notify: %s sink %q: unknown kind %q", kind, name, k)
		}
	}
	client := o.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &HTTPSink{name: name, url: rawURL, kinds: slices.Clone(o.Kinds), client: client,
		secret: bytes.Clone(secret), encode: encode}, nil
}

// Name implements Sink.
func (s *HTTPSink) Name() string { return s.name }

// Wants implements Sink.
func (s *HTTPSink) Wants(k Kind) bool { return len(s.kinds) == 0 || slices.Contains(s.kinds, k) }

// Send implements Sink.
func (s *HTTPSink) Send(ctx context.Context, ev Event, delivery string) error {
	body, err := s.encode(ev)
	if err != nil {
		return fmt.Errorf("%s: encode %s: %w: %w", s.name, ev.Kind, ErrPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: build request: %w", s.name, errors.Join(ErrPermanent, redact(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hotswap-notify")
	req.Header.Set(HeaderEvent, string(ev.Kind))
	req.Header.Set(HeaderDelivery, delivery)
	if len(s.secret) > 0 {
		ts := strconv.FormatInt(time.Now().Unix(), 10) // per attempt, so retries stay fresh
		m := hmac.New(sha256.New, s.secret)
		m.Write([]byte(ts + "."))
		m.Write(body)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, redact(err))
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &HTTPError{
		Sink:       s.name,
		StatusCode: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Body:       truncate(strings.TrimSpace(strings.ToValidUTF8(string(head), "")), 200),
	}
}

// redact removes the URL, which for Slack and Discord is the secret, from
// client errors.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ue.URL = u.Scheme + "://" + u.Host + "/…"
		} else {
			ue.URL = "…"
		}
	}
	return err
}

func jsonBody(v any) ([]byte, error) { return json.Marshal(v) }

// slackEscape escapes the three characters Slack treats as markup, so a
// reason cannot inject <!channel> or links.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate cuts s to at most max runes, marking the cut.
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}
