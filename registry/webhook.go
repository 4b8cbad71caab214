package registry

import (
	"context"
	"encoding/json"

	"github.com/reverbd/reverbd/config"
)

// WebhookEvent is one element of a webhook's "events" list, in Pusher's format
// (https://pusher.com/docs/channels/server_api/webhooks/). Name is one of the config.Webhook*
// event types; the other fields are set as that type has them.
type WebhookEvent struct {
	Name    string `json:"name"`
	Channel string `json:"channel"`
	// UserID is set on member_added, member_removed and a presence channel's client_event.
	UserID string `json:"user_id,omitempty"`
	// Event, Data (always a string) and SocketID are set on client_event; Data is written on
	// every client_event, even empty (see MarshalJSON).
	Event    string `json:"event,omitempty"`
	Data     string `json:"data,omitempty"`
	SocketID string `json:"socket_id,omitempty"`
	// SubscriptionCount is set on subscription_count.
	SubscriptionCount *int `json:"subscription_count,omitempty"`
}

// MarshalJSON encodes ev in Pusher's format: the fields its type has, and on a client_event
// always data, a string, as Pusher sends it (an SDK reads it as one).
func (ev WebhookEvent) MarshalJSON() ([]byte, error) {
	type fields WebhookEvent // the same fields without this method
	if ev.Name != config.WebhookClientEvent {
		return json.Marshal(fields(ev))
	}
	return json.Marshal(clientEventFields(ev))
}

// clientEventFields are WebhookEvent's fields, in the same order, with data always written.
type clientEventFields struct {
	Name              string `json:"name"`
	Channel           string `json:"channel"`
	UserID            string `json:"user_id,omitempty"`
	Event             string `json:"event,omitempty"`
	Data              string `json:"data"`
	SocketID          string `json:"socket_id,omitempty"`
	SubscriptionCount *int   `json:"subscription_count,omitempty"`
}

// WebhookBatch is a run of one app's webhook events, in the order they were decided, closed
// when it reached the batch size or its first event the batch window's age.
type WebhookBatch struct {
	// ID names the batch in the whole cluster; a batch handed out again keeps it, with the
	// same TimeMS and Events.
	ID     string
	AppID  string
	TimeMS int64 // Unix milliseconds when the batch was closed (the webhook's time_ms)
	Events []WebhookEvent
}

// WebhookFeed carries the webhook events of every node to the one sender that batches and
// sends them. The Occupancy decides channel_occupied, channel_vacated, member_added,
// member_removed and subscription_count and records them in the same step as the decision;
// a node adds the events it sees itself (client_event, cache_miss) with Add.
type WebhookFeed interface {
	// Add records events this node saw for the app.
	Add(ctx context.Context, appID string, evs ...WebhookEvent) error
	// Run hands each closed batch to send, in order per app, until ctx ends. In a cluster one
	// node's Run hands batches out at a time; the others wait to take over. A batch is done
	// once send returns nil; a batch whose send failed or whose node died before it was done
	// is handed out again, so send must be idempotent on the batch ID.
	Run(ctx context.Context, send func(context.Context, WebhookBatch) error) error
}
