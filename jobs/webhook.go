package jobs

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
)

// WebhookDelivery is one webhook POST: a batch's events for one of its app's webhooks, with
// its body and signature made once, so every try sends the same bytes. It holds no secret.
type WebhookDelivery struct {
	// ID is the batch's ID and the webhook's index in the app's list: the same batch handed
	// out again makes the same IDs, which is how a queue refuses to send it twice.
	ID    string `json:"id"`
	AppID string `json:"app_id"`
	URL   string `json:"url"`
	// Headers are the webhook's own headers, without those the delivery sets itself.
	Headers map[string]string `json:"headers,omitempty"`
	// Key and Signature are X-Pusher-Key and X-Pusher-Signature.
	Key       string `json:"key"`
	Signature string `json:"signature"`
	// Body is the JSON body, {"time_ms":…,"events":[…]}, exactly as sent.
	Body string `json:"body"`
	// Created is when the sender made the delivery; the retry budget counts from it.
	Created time.Time `json:"created"`
}

// WebhookQueue runs webhook deliveries: POSTs each, trying again under the WebhookRules.
type WebhookQueue interface {
	// Enqueue adds d. A delivery whose ID the queue already took (within RetryFor and a
	// margin) is not added again, and that is no error.
	Enqueue(ctx context.Context, d WebhookDelivery) error
	// Run runs the deliveries until ctx ends.
	Run(ctx context.Context) error
	// Shutdown stops taking deliveries and lets those in flight finish until ctx ends.
	Shutdown(ctx context.Context) error
}

// webhookBody is the JSON body of a webhook POST (Pusher's format).
type webhookBody struct {
	TimeMS int64                   `json:"time_ms"`
	Events []registry.WebhookEvent `json:"events"`
}

// Headers a delivery sets itself; a webhook's own headers of these names are ignored.
const (
	headerKey         = "X-Pusher-Key"
	headerSignature   = "X-Pusher-Signature"
	headerContentType = "Content-Type"
	// headerID names the delivery (batch and webhook): the same on every try, so a receiver
	// can tell a repeat (a POST whose answer was lost) from a new batch.
	headerID = "X-Reverbd-Webhook-Id"
)

// WebhookSender turns the batches of a registry.WebhookFeed into deliveries: its Send is the
// function given to the feed's Run.
type WebhookSender struct {
	apps  *registry.Apps
	queue WebhookQueue
	log   *slog.Logger
	now   func() time.Time

	unknownLogged atomic.Bool
}

// WebhookSenderParams configures a WebhookSender.
type WebhookSenderParams struct {
	// Apps is read at each Send, so a reload applies to the batches that follow.
	Apps  *registry.Apps
	Queue WebhookQueue
	Log   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewWebhookSender returns a WebhookSender.
func NewWebhookSender(p WebhookSenderParams) *WebhookSender {
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &WebhookSender{apps: p.Apps, queue: p.Queue, log: p.Log, now: p.Now}
}

// Send enqueues one delivery per webhook of the batch's app that keeps any of its events
// (the types it wants, on the channels its filter lets through). It is idempotent on the
// batch ID: a batch handed out again enqueues nothing new. A batch of an app no longer
// configured is dropped. An error (the queue is unreachable) leaves the batch to be handed
// out again.
func (s *WebhookSender) Send(ctx context.Context, b registry.WebhookBatch) error {
	app, err := s.apps.ByID(b.AppID)
	if err != nil {
		if !s.unknownLogged.Swap(true) {
			s.log.Warn("webhook batch of an app no longer configured dropped", "app_id", b.AppID)
		}
		return nil
	}
	created := s.now()
	for i := range app.Webhooks {
		d, ok := delivery(app, i, b, created)
		if !ok {
			continue
		}
		if err := s.queue.Enqueue(ctx, d); err != nil {
			return fmt.Errorf("webhook %s: %w", d.ID, err)
		}
	}
	return nil
}

// delivery makes the delivery of batch b to app's i-th webhook; ok is false when the
// webhook keeps none of b's events.
func delivery(app *config.App, i int, b registry.WebhookBatch, created time.Time) (WebhookDelivery, bool) {
	w := &app.Webhooks[i]
	var events []registry.WebhookEvent
	for _, ev := range b.Events {
		if w.Wants(ev.Name) && w.Keeps(ev.Channel) {
			events = append(events, ev)
		}
	}
	if len(events) == 0 {
		return WebhookDelivery{}, false
	}
	body, err := json.Marshal(webhookBody{TimeMS: b.TimeMS, Events: events})
	if err != nil {
		panic(err) // strings, ints and a pointer to an int always encode
	}
	var headers map[string]string
	for name, value := range w.Headers {
		switch http.CanonicalHeaderKey(name) {
		case headerKey, headerSignature, headerContentType:
			continue
		}
		if headers == nil {
			headers = make(map[string]string, len(w.Headers))
		}
		headers[name] = value
	}
	return WebhookDelivery{
		ID:        b.ID + ":" + strconv.Itoa(i),
		AppID:     app.ID,
		URL:       w.URL,
		Headers:   headers,
		Key:       app.Key,
		Signature: webhookSignature(app.Secret, body),
		Body:      string(body),
		Created:   created,
	}, true
}

// webhookSignature is X-Pusher-Signature: the hex HMAC-SHA256 of the body with the app
// secret (https://pusher.com/docs/channels/server_api/webhooks/#authentication).
func webhookSignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}
