package ws

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/config/catalogue"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// occupancyTimeout bounds the shared-occupancy and cache calls of one subscribe or
// unsubscribe (and of a connection's Connect): they end between 0.9 and 1 times it after
// they start (see sharedDeadline).
const occupancyTimeout = 5 * time.Second

// A subscription changes the shared occupancy (Redis in a cluster) in three steps, so that no
// connection or hub lock is held while Redis answers: the connection's state is checked
// (reserve), the occupancy is called, then the result is recorded on the connection and in
// the hub, or undone if the connection was released meanwhile (commit or roll back). Presence
// members are ordered as hub_members.go explains.

// record subscribes c to channel, which it is not subscribed to: the occupancy records it
// (and on a presence channel tells the other members if it is the user's first connection
// there), then c gets subscription_succeeded, with the member list on a presence channel,
// then the channel's frames.
func (c *Conn) record(channel string, kind registry.Kind, member *registry.Member, entry *catalogue.Entry) {
	ctx := c.srv.deadlines.context()
	if c.recordShared(ctx, channel, kind, member, entry) {
		c.readCache(ctx, channel)
	}
}

// recordShared is record but for the cache read, which it reports is left to do. entry is
// the catalogue entry channel matched (nil: none), whose options may override the app's.
func (c *Conn) recordShared(ctx context.Context, channel string, kind registry.Kind, member *registry.Member, entry *catalogue.Entry) (readCache bool) {
	s := c.srv
	if member != nil {
		// Frames of the channel wait for c from now on, so none that follows the member list
		// is missed; they are held until c gets the list.
		s.hub.hold(c.App().ID, channel, c, member.UserID)
	}
	maxMembers := maxPresenceMembers(c.App(), entry)
	sub, err := s.occupancy.Subscribe(ctx, c.App().ID, channel, c.id, member, maxMembers)
	if err != nil {
		if member != nil {
			s.hub.leave(c.App().ID, channel, c)
		}
		if errors.Is(err, registry.ErrPresenceFull) {
			c.logClient(slog.LevelInfo, "subscribe refused: max_presence_members", "channel", channel, "max", maxMembers)
			c.stats.LimitHit(metrics.LimitMaxPresenceMembers)
			c.Send(subscriptionErrorFrame(channel, "LimitReached",
				"The presence channel has "+strconv.Itoa(maxMembers)+" members, the most allowed", statusLimitReached))
			return false
		}
		c.logClient(slog.LevelError, "subscribe failed: occupancy", "channel", channel, "err", err)
		c.Send(subscriptionErrorFrame(channel, "ServerError", "Subscription could not be recorded", 500))
		return false
	}
	cached := kind.IsCache() && s.cache != nil
	c.mu.Lock()
	if c.gone {
		// Released meanwhile, without this subscription: undone (a member_added told is
		// followed by its member_removed).
		c.mu.Unlock()
		if member != nil {
			s.hub.leave(c.App().ID, channel, c)
		}
		c.undoSubscribe(ctx, channel)
		return false
	}
	c.channels.add(subscription{channel: channel, member: member, entry: entry})
	// Recorded under c.mu: a release from now on takes c out of the channel.
	if member == nil {
		s.hub.join(c.App().ID, channel, c, "", succeededFrame(channel), cached)
		s.sendCount(c, channel)
	} else {
		s.hub.open(c.App().ID, channel, c, presenceSucceededFrame(channel, sub.Presence.Members), sub.Presence, cached)
	}
	c.mu.Unlock()
	return cached
}

// resubscribe answers a subscribe to a channel c is already subscribed to, without telling
// anyone: subscription_succeeded again (with the member list read now, on a presence
// channel), then on a cache channel the cached event.
func (c *Conn) resubscribe(channel string, kind registry.Kind, member *registry.Member) {
	s := c.srv
	ctx := s.deadlines.context()
	cached := kind.IsCache() && s.cache != nil
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	if member == nil {
		s.hub.join(c.App().ID, channel, c, "", succeededFrame(channel), cached)
		s.sendCount(c, channel)
		c.mu.Unlock()
	} else {
		s.hub.hold(c.App().ID, channel, c, member.UserID)
		c.mu.Unlock()
		p, err := c.members(ctx, channel)
		if err != nil {
			s.hub.open(c.App().ID, channel, c, nil, registry.Presence{}, false) // c stays subscribed
			return
		}
		if !s.hub.open(c.App().ID, channel, c, presenceSucceededFrame(channel, p.Members), p, cached) {
			return // released meanwhile
		}
	}
	if cached {
		c.readCache(ctx, channel)
	}
}

// readCache completes the subscribe of a cache channel: the cached event (or
// pusher:cache_miss), then what was published meanwhile, in order (see gate).
func (c *Conn) readCache(ctx context.Context, channel string) {
	s := c.srv
	ev, ok, err := s.cache.Get(ctx, c.App().ID, channel)
	if err != nil {
		c.logClient(slog.LevelError, "cache unavailable", "channel", channel, "err", err)
	}
	s.hub.settle(c.App().ID, channel, c, ev, ok)
	if !ok && err == nil && c.wantsWebhook(config.WebhookCacheMiss) {
		c.addWebhook(registry.WebhookEvent{Name: config.WebhookCacheMiss, Channel: channel})
	}
}

// members reads the member list of a presence channel; when it cannot, it answers the client
// with a channel-scoped error.
func (c *Conn) members(ctx context.Context, channel string) (registry.Presence, error) {
	members, err := c.srv.occupancy.Members(ctx, c.App().ID, channel)
	if err != nil {
		c.logClient(slog.LevelError, "subscribe failed: presence members unavailable", "channel", channel, "err", err)
		c.Send(subscriptionErrorFrame(channel, "ServerError", "Presence members could not be read", 500))
	}
	return members, err
}

// undoSubscribe removes a subscription that the occupancy recorded and nobody heard of.
func (c *Conn) undoSubscribe(ctx context.Context, channel string) {
	if _, _, err := c.srv.occupancy.Unsubscribe(ctx, c.App().ID, channel, c.id); err != nil {
		// The shared state keeps the socket until this node re-asserts its state, which it
		// does when Redis answers again.
		c.logClient(slog.LevelError, "subscribe not undone: occupancy", "channel", channel, "err", err)
	}
}

// leaveChannel handles an unsubscribe from channel: c leaves it in the hub at once, then in
// the occupancy; an unknown channel is ignored.
func (c *Conn) leaveChannel(channel string) {
	s := c.srv
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return // release forgets the subscriptions
	}
	sub, ok := c.channels.remove(channel)
	if ok {
		s.hub.leave(c.App().ID, channel, c)
	}
	c.mu.Unlock()
	if ok {
		s.unrecord(s.deadlines.context(), c, sub)
	}
}

// unrecord removes c's subscription sub, which c has left in the hub, from the shared
// occupancy, which tells the remaining presence members when it was the user's last
// connection.
//
// When the shared occupancy cannot be updated (Redis is away), whether this was the user's
// last connection in the cluster is unknown. The leave is then told to this node's own
// subscribers when no other local connection of the user remains on the channel, so they do
// not keep a member that has gone; the other nodes hear of it when this node writes its state
// back once Redis answers again, and this node's lists are read again then.
func (s *Server) unrecord(ctx context.Context, c *Conn, sub subscription) {
	channel := sub.channel
	if _, _, err := s.occupancy.Unsubscribe(ctx, c.App().ID, channel, c.id); err != nil {
		s.log.Error("unsubscribe failed: occupancy", "app_id", c.App().ID, "channel", channel, "err", err)
		if local := sub.member; local != nil && !s.hub.hasUser(c.App().ID, channel, local.UserID) {
			s.hub.member(registry.MemberEvent{AppID: c.App().ID, Channel: channel, Member: registry.Member{UserID: local.UserID, RawID: local.RawID}})
		}
	}
}

// succeededFrame is pusher_internal:subscription_succeeded of a channel other than presence.
func succeededFrame(channel string) []byte {
	return eventFrame("pusher_internal:subscription_succeeded", channel, "{}")
}
