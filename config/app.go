package config

import (
	"log/slog"
	"time"

	"github.com/reverbd/reverbd/config/catalogue"
)

// Client-event policies for App.AcceptClientEventsFrom (Pusher's WebSocket protocol docs).
const (
	ClientEventsMembers = "members" // the sender must be subscribed to the channel
	ClientEventsAll     = "all"     // any connection of the app may send
	ClientEventsNone    = "none"    // every client event is refused with 4301
)

// Channel catalogue modes for App.ChannelsMode: how the channels outside the app's catalogue
// are treated (see the README's "Channel catalogue").
const (
	ChannelsOff    = "off"    // not checked
	ChannelsWarn   = "warn"   // allowed, logged once per shape and counted
	ChannelsStrict = "strict" // refused: a trigger with 400, a subscribe with a subscription_error
)

// App is one Pusher application: its credentials and the limits of its connections.
// The zero value of a limit means "no limit" unless its comment says otherwise.
type App struct {
	ID     string `json:"app_id"`
	Key    string `json:"key"`
	Secret string `json:"secret"`

	// AllowedOrigins are host patterns (with * wildcards) a browser Origin must match;
	// "*" or an empty list allows every origin.
	AllowedOrigins []string `json:"allowed_origins"`

	// PingInterval is how long a connection may stay silent before the server pings it.
	PingInterval time.Duration `json:"-"`
	// PongTimeout is how long a pinged connection has to answer before it is closed
	// with 4201. Zero means PingInterval.
	PongTimeout time.Duration `json:"-"`
	// ActivityTimeout is announced to clients in pusher:connection_established.
	ActivityTimeout time.Duration `json:"-"`
	// UserAuthenticationTimeout turns on Pusher's authorized connections
	// (https://pusher.com/docs/channels/using_channels/authorized-connections/): a connection
	// that has neither signed in (pusher:signin) nor been authorized for a private or presence
	// channel this long after it opened is closed with 4009. Zero turns it off.
	UserAuthenticationTimeout time.Duration `json:"-"`

	// MaxMessageSize caps one inbound WebSocket message in bytes (close 1009 past it).
	MaxMessageSize int `json:"max_message_size"`
	// MaxConnections caps the app's open connections (4004 past it); 0 is unlimited.
	MaxConnections int `json:"max_connections"`
	// AcceptClientEventsFrom is ClientEventsMembers, ClientEventsAll or ClientEventsNone; any
	// other non-empty value acts as ClientEventsNone, as in Reverb (see Config.Warnings).
	AcceptClientEventsFrom string `json:"accept_client_events_from"`
	// RateLimiting limits every inbound message of one connection (Reverb's rate_limiting).
	RateLimiting RateLimiting `json:"rate_limiting"`
	// MaxSubscriptions caps the channels one connection may be subscribed to; past it a
	// subscribe gets a channel-scoped pusher:subscription_error. 0 is unlimited.
	MaxSubscriptions int `json:"max_subscriptions"`
	// MaxClientEventsPerSecond caps the client events one connection may send per second
	// (Pusher's limit is 10); an excess event is dropped with a 4301 pusher:error. 0 is
	// unlimited.
	MaxClientEventsPerSecond int `json:"max_client_events_per_second"`
	// MaxPresenceMembers caps the distinct users of one presence channel; past it a new
	// user's subscribe gets a channel-scoped pusher:subscription_error. 0 is unlimited.
	MaxPresenceMembers int `json:"max_presence_members"`
	// MaxPresenceMemberSize caps the user_info of a presence member in bytes, as the JSON in
	// channel_data; MaxUserIDLength caps its user_id in characters. Pusher's limits are 1 KB
	// and 128 characters (https://pusher.com/docs/channels/using_channels/presence-channels/).
	// A subscribe past either gets a channel-scoped pusher:subscription_error. 0 is unlimited.
	MaxPresenceMemberSize int `json:"max_presence_member_size"`
	MaxUserIDLength       int `json:"max_user_id_length"`
	// SubscriptionCount sends the subscribers of a non-presence channel
	// pusher_internal:subscription_count whenever the channel's subscription count changes,
	// at most once a second per channel (Pusher's subscription counting:
	// https://pusher.com/blog/counting-live-users-at-scale-with-subscription-count-events/).
	SubscriptionCount bool `json:"subscription_count"`
	// MaxWatchlistSize caps the user ids of the watchlist a connection signs in with
	// (pusher:signin's user_data; Pusher's watchlist events:
	// https://pusher.com/docs/channels/using_channels/watchlist-events/), 100 by default; a
	// longer watchlist refuses the signin with 4009. 0 turns watchlist events off for the
	// app: signins are not tracked and watchlists are ignored.
	MaxWatchlistSize int `json:"max_watchlist_size"`

	// Channels is the app's channel catalogue (REVERB_CHANNELS_FILE, or the apps file's
	// channels_file or channels); nil when it has none. With a catalogue, metrics label
	// channels by its patterns whatever the mode.
	Channels *catalogue.Catalogue `json:"-"`
	// ChannelsMode is ChannelsOff, ChannelsWarn or ChannelsStrict; "" is off.
	ChannelsMode string `json:"channels_mode"`

	// Webhooks are the endpoints the app's webhook events are sent to
	// (https://pusher.com/docs/channels/server_api/webhooks/); none sends nothing.
	Webhooks []Webhook `json:"webhooks"`
}

// ChannelsEnforced reports whether the app's catalogue is checked on triggers and subscribes
// (warn or strict mode). It is the one test on the hot path when the mode is off.
func (a *App) ChannelsEnforced() bool {
	return a.Channels != nil && (a.ChannelsMode == ChannelsWarn || a.ChannelsMode == ChannelsStrict)
}

// RateLimiting is Reverb's per-connection limit on inbound messages: at most MaxAttempts
// messages per DecaySeconds window; excess messages get a 4301 pusher:error.
type RateLimiting struct {
	Enabled          bool `json:"enabled"`
	MaxAttempts      int  `json:"max_attempts"`
	DecaySeconds     int  `json:"decay_seconds"`
	TerminateOnLimit bool `json:"terminate_on_limit"`
}

// LogValue keeps the secret out of logs.
func (a App) LogValue() slog.Value {
	return slog.GroupValue(slog.String("app_id", a.ID), slog.String("key", a.Key))
}

// PongWindow is the time a pinged connection has to show activity before it is closed.
func (a *App) PongWindow() time.Duration {
	if a.PongTimeout > 0 {
		return a.PongTimeout
	}
	return a.PingInterval
}
