package config

// Webhook event types (Pusher's webhooks: https://pusher.com/docs/channels/server_api/webhooks/).
const (
	WebhookChannelOccupied   = "channel_occupied"
	WebhookChannelVacated    = "channel_vacated"
	WebhookMemberAdded       = "member_added"
	WebhookMemberRemoved     = "member_removed"
	WebhookClientEvent       = "client_event"
	WebhookCacheMiss         = "cache_miss"
	WebhookSubscriptionCount = "subscription_count"
)

// Webhook is one endpoint an app's webhook events are POSTed to, in Pusher's format.
type Webhook struct {
	// URL receives the POSTs.
	URL string `json:"url"`
	// EventTypes are the event names sent there; empty means every type.
	EventTypes []string `json:"event_types"`
	// Filter keeps the events of matching channels only.
	Filter WebhookFilter `json:"filter"`
	// Headers are added to each request; X-Pusher-Key, X-Pusher-Signature and Content-Type
	// among them are ignored (the real ones are sent).
	Headers map[string]string `json:"headers"`
}

// WebhookFilter keeps the events of channels whose name starts and ends as given ("" matches
// every name).
type WebhookFilter struct {
	ChannelNameStartsWith string `json:"channel_name_starts_with"`
	ChannelNameEndsWith   string `json:"channel_name_ends_with"`
}
