package ws

import (
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// defaultMaxEventNameLength caps a client event's name in characters unless
// Params.MaxEventNameLength says otherwise (Pusher's HTTP API reference).
const defaultMaxEventNameLength = 200

// clientEvent relays a client-* event to the other subscribers of its channel
// (Pusher's WebSocket protocol docs): private and presence channels only, never encrypted ones, per
// the app's accept_client_events_from, never echoed to the sender; on presence channels the
// sender's user_id is added. data is relayed exactly as received.
func (c *Conn) clientEvent(msg *clientMessage) {
	policy, outside := c.clientEventPolicy(c.App(), msg.Channel)
	switch {
	case outside:
		c.logClient(slog.LevelInfo, "client event refused: outside the channel catalogue", "channel", msg.Channel)
		c.Send(errorFrame(&Error{4301, registry.OutsideMessage(c.App(), msg.Channel)}))
		return
	case policy != config.ClientEventsMembers && policy != config.ClientEventsAll:
		c.Send(errorFrame(errClientEventsOff))
		return
	}
	if n := c.srv.maxEventName; n > 0 && utf8.RuneCountInString(msg.Event) > n {
		c.Send(errorFrame(errClientEventTooBig))
		return
	}
	if msg.Channel == "" || registry.ValidateChannel(msg.Channel, c.srv.maxChannel) != nil {
		c.Send(errorFrame(errInvalidMessage))
		return
	}
	kind := registry.KindOf(msg.Channel)
	if !kind.AcceptsClientEvents() {
		c.logClient(slog.LevelInfo, "client event refused: channel kind", "channel", msg.Channel)
		c.Send(errorFrame(errClientEventsKind))
		return
	}
	c.mu.Lock()
	var member *registry.Member
	sub := c.channels.find(msg.Channel)
	if sub != nil {
		member = sub.member
	}
	subscribed := sub != nil
	c.mu.Unlock()
	if !subscribed && policy == config.ClientEventsMembers {
		c.logClient(slog.LevelInfo, "client event refused: not a member", "channel", msg.Channel)
		c.Send(errorFrame(errNotMember))
		return
	}
	if !c.allowClientEvent(time.Now().UnixNano()) {
		c.logClient(slog.LevelInfo, "client event refused: max_client_events_per_second", "channel", msg.Channel)
		c.stats.LimitHit(metrics.LimitClientEventsPerSecond)
		c.Send(errorFrame(&Error{4301, "Client event rejected - only " +
			strconv.Itoa(c.App().MaxClientEventsPerSecond) + " accepted per second"}))
		return
	}
	data := msg.Data
	if len(data) == 0 {
		data = []byte("null")
	}
	b := append([]byte(`{"event":`), appendJSONString(nil, msg.Event)...)
	b = append(b, `,"channel":`...)
	b = appendJSONString(b, msg.Channel)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	if kind.IsPresence() && member != nil {
		b = append(b, `,"user_id":`...)
		b = appendJSONString(b, member.UserID)
	}
	b = append(b, '}')
	c.srv.broadcast(c.App().ID, msg.Channel, b, c.id)
	if c.wantsWebhook(config.WebhookClientEvent) {
		c.clientEventWebhook(msg, member)
	}
}

// allowClientEvent applies max_client_events_per_second (Pusher's client event limit,
// https://pusher.com/docs/channels/using_channels/events/#triggering-client-events) at now
// (unix nanoseconds): a burst of n events, then one every 1/n s. c.clientEventsTAT is the
// time the next event is due when the burst is used up (the generic cell rate algorithm), so
// the limit costs one integer per connection. Called by the goroutine reading c.
func (c *Conn) allowClientEvent(now int64) bool {
	n := int64(c.App().MaxClientEventsPerSecond)
	if n <= 0 {
		return true
	}
	interval := int64(time.Second) / n
	tat := max(c.clientEventsTAT, now)
	if tat-now > (n-1)*interval {
		return false
	}
	c.clientEventsTAT = tat + interval
	return true
}
