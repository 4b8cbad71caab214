package ws

import (
	"context"
	"encoding/json"
	"time"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
)

// webhookAddTimeout bounds adding a webhook event to the feed from a connection's
// goroutine: a client_event or cache_miss webhook is lost rather than the connection held up
// while Redis does not answer.
const webhookAddTimeout = 100 * time.Millisecond

// wantsWebhook reports whether c's app takes webhook events of eventType; it allocates
// nothing.
func (c *Conn) wantsWebhook(eventType string) bool {
	return c.srv.webhooks != nil && c.App().WantsWebhook(eventType)
}

// addWebhook adds ev to the webhook feed for c's app, waiting at most webhookAddTimeout. A
// failure is logged once until an add succeeds again.
func (c *Conn) addWebhook(ev registry.WebhookEvent) {
	s := c.srv
	ctx, cancel := context.WithTimeout(context.Background(), webhookAddTimeout)
	defer cancel()
	if err := s.webhooks.Add(ctx, c.App().ID, ev); err != nil {
		if !s.webhooksFailing.Swap(true) {
			s.log.Warn("webhook events are being lost: the webhook feed does not take them", "app_id", c.App().ID, "event", ev.Name, "err", err)
		}
		return
	}
	if s.webhooksFailing.Swap(false) {
		s.log.Info("webhook events are added again")
	}
}

// clientEventWebhook adds the client_event webhook of a client event c relayed, with data
// as a string: a JSON string as its text, anything else as the JSON received.
func (c *Conn) clientEventWebhook(msg *clientMessage, member *registry.Member) {
	ev := registry.WebhookEvent{Name: config.WebhookClientEvent, Channel: msg.Channel, Event: msg.Event, SocketID: c.id}
	if len(msg.Data) > 0 && msg.Data[0] == '"' {
		_ = json.Unmarshal(msg.Data, &ev.Data) // decodeMessage checked it is valid JSON
	} else {
		ev.Data = string(msg.Data)
	}
	if member != nil && registry.KindOf(msg.Channel).IsPresence() {
		ev.UserID = member.UserID
	}
	c.addWebhook(ev)
}
