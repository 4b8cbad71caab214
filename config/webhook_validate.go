package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// WebhookEventTypes lists every webhook event type, in Pusher's order.
var WebhookEventTypes = []string{
	WebhookChannelOccupied, WebhookChannelVacated, WebhookMemberAdded, WebhookMemberRemoved,
	WebhookClientEvent, WebhookCacheMiss, WebhookSubscriptionCount,
}

// Bounds of the global webhook settings.
const (
	maxWebhookBatchSize    = 1000
	maxWebhookBatchWindow  = time.Minute
	maxWebhookRetryFor     = 24 * time.Hour
	minWebhookTimeout      = 100 * time.Millisecond
	maxWebhookTimeout      = time.Minute
	maxWebhookVacatedDelay = time.Hour
)

// Wants reports whether w takes events of this type.
func (w *Webhook) Wants(eventType string) bool {
	return len(w.EventTypes) == 0 || slices.Contains(w.EventTypes, eventType)
}

// Keeps reports whether w's filter lets the events of channel through.
func (w *Webhook) Keeps(channel string) bool {
	return strings.HasPrefix(channel, w.Filter.ChannelNameStartsWith) &&
		strings.HasSuffix(channel, w.Filter.ChannelNameEndsWith)
}

// WantsWebhook reports whether one of the app's webhooks takes events of this type. It
// allocates nothing, so a caller may ask before building an event.
func (a *App) WantsWebhook(eventType string) bool {
	for i := range a.Webhooks {
		if a.Webhooks[i].Wants(eventType) {
			return true
		}
	}
	return false
}

// validateWebhookSettings checks the global REVERB_WEBHOOK_* settings.
func (c *Config) validateWebhookSettings() error {
	switch {
	case c.WebhookBatchWindow < time.Millisecond || c.WebhookBatchWindow > maxWebhookBatchWindow:
		return fmt.Errorf("config: REVERB_WEBHOOK_BATCH_WINDOW must be between 1ms and %s, got %s", maxWebhookBatchWindow, c.WebhookBatchWindow)
	case c.WebhookBatchSize < 1 || c.WebhookBatchSize > maxWebhookBatchSize:
		return fmt.Errorf("config: REVERB_WEBHOOK_BATCH_SIZE must be between 1 and %d, got %d", maxWebhookBatchSize, c.WebhookBatchSize)
	case c.WebhookRetryFor < 0 || c.WebhookRetryFor > maxWebhookRetryFor:
		return fmt.Errorf("config: REVERB_WEBHOOK_RETRY_FOR must be between 0s (one try) and %s, got %s", maxWebhookRetryFor, c.WebhookRetryFor)
	case c.WebhookTimeout < minWebhookTimeout || c.WebhookTimeout > maxWebhookTimeout:
		return fmt.Errorf("config: REVERB_WEBHOOK_TIMEOUT must be between %s and %s, got %s", minWebhookTimeout, maxWebhookTimeout, c.WebhookTimeout)
	case c.WebhookVacatedDelay < 0 || c.WebhookVacatedDelay > maxWebhookVacatedDelay:
		return fmt.Errorf("config: REVERB_WEBHOOK_VACATED_DELAY must be between 0s and %s, got %s", maxWebhookVacatedDelay, c.WebhookVacatedDelay)
	case strings.TrimSpace(c.WebhookQueue) == "":
		return fmt.Errorf("config: REVERB_WEBHOOK_QUEUE is blank")
	case c.QueueConnection == "redis" && c.AsynqWebhookQueue() == c.AsynqQueue():
		return fmt.Errorf("config: REVERB_WEBHOOK_QUEUE must differ from REVERB_QUEUE_NAME (%q)", c.QueueName)
	}
	return nil
}

// validateWebhooks checks an app's webhooks; name turns an apps-file key into the name the
// error gives. No error repeats a header's value (it may be a token).
func validateWebhooks(a *App, name func(field string) string) error {
	for i := range a.Webhooks {
		w := &a.Webhooks[i]
		field := func(key string) string { return name(fmt.Sprintf("webhooks[%d].%s", i, key)) }
		if err := validateWebhookURL(w.URL); err != nil {
			return fmt.Errorf("config: %s %s", field("url"), err)
		}
		for _, t := range w.EventTypes {
			if !slices.Contains(WebhookEventTypes, t) {
				return fmt.Errorf("config: %s: unknown event type %q; the types are %s", field("event_types"), t, strings.Join(WebhookEventTypes, ", "))
			}
		}
		for h, v := range w.Headers {
			if !validHeaderName(h) {
				return fmt.Errorf("config: %s: %q is not a valid header name", field("headers"), h)
			}
			if strings.ContainsAny(v, "\r\n\x00") {
				return fmt.Errorf("config: %s: the value of %s holds a line break or NUL", field("headers"), h)
			}
		}
	}
	return nil
}

// validateWebhookURL checks that u is an absolute http or https URL with a host; the error
// never repeats u (it may hold a password or a token).
func validateWebhookURL(u string) error {
	if u == "" {
		return fmt.Errorf("is missing")
	}
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return fmt.Errorf("is not a valid URL")
	case p.Scheme != "http" && p.Scheme != "https":
		return fmt.Errorf("must be an absolute http:// or https:// URL")
	case p.Host == "" || p.Hostname() == "":
		return fmt.Errorf("has no host")
	}
	return nil
}

// validHeaderName reports whether h is an HTTP field name: a token (RFC 9110, section 5.1).
func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
