package ws

import (
	"log/slog"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/config/catalogue"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// catalogueSubscribe applies app's enforced channel catalogue to a subscribe to channel. It
// returns the entry the channel matches (nil outside the catalogue, and for the names no
// catalogue lists), and false when the subscribe is refused: in strict mode a channel outside
// the catalogue gets a channel-scoped pusher:subscription_error naming the nearest pattern,
// and the connection stays open. In warn mode it is recorded (logged once per shape, counted)
// and allowed.
func (c *Conn) catalogueSubscribe(app *config.App, channel string) (*catalogue.Entry, bool) {
	entry, outside := registry.CatalogueMatch(app, channel)
	if !outside {
		return entry, true
	}
	if app.ChannelsMode == config.ChannelsStrict {
		c.logClient(slog.LevelInfo, "subscribe refused: outside the channel catalogue", "channel", channel)
		c.stats.LimitHit(metrics.LimitChannelCatalogue)
		c.Send(subscriptionErrorFrame(channel, "InvalidChannel", registry.OutsideMessage(app, channel), 400))
		return nil, false
	}
	c.srv.outsiders.Saw(app, metrics.SourceSubscribe, channel)
	return nil, true
}

// clientEventPolicy is the accept_client_events_from that applies to a client event on
// channel: the pattern's when the app's catalogue is enforced and the channel's pattern sets
// one, else the app's. outside reports a channel outside a strict app's catalogue.
func (c *Conn) clientEventPolicy(app *config.App, channel string) (policy string, outside bool) {
	policy = app.AcceptClientEventsFrom
	if !app.ChannelsEnforced() {
		return policy, false
	}
	entry, out := registry.CatalogueMatch(app, channel)
	if out {
		return policy, app.ChannelsMode == config.ChannelsStrict
	}
	if entry != nil && entry.AcceptClientEventsFrom != "" {
		policy = entry.AcceptClientEventsFrom
	}
	return policy, false
}

// maxPresenceMembers is the max_presence_members of a channel: its pattern's, when it sets
// one, else the app's.
func maxPresenceMembers(app *config.App, entry *catalogue.Entry) int {
	if entry != nil && entry.MaxPresenceMembers > 0 {
		return entry.MaxPresenceMembers
	}
	return app.MaxPresenceMembers
}

// entryMaxSubscriptions is the most channels of entry's pattern one connection may be
// subscribed to; 0 is no limit of the pattern's own (the app's max_subscriptions still
// counts every channel).
func entryMaxSubscriptions(entry *catalogue.Entry) int { return entry.MaxSubscriptions }
