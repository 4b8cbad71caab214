package ws

import (
	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
)

// maxEventNameLength caps a client event name (pusher-protocol.md §8.11).
const maxEventNameLength = 200

// clientEvent relays a client-* event to the other subscribers of its channel
// (pusher-protocol.md §5): private and presence channels only, never encrypted ones, per
// the app's accept_client_events_from, never echoed to the sender; on presence channels the
// sender's user_id is added. data is relayed exactly as received.
func (c *Conn) clientEvent(msg *clientMessage) {
	switch c.app.AcceptClientEventsFrom {
	case config.ClientEventsMembers, config.ClientEventsAll:
	default:
		c.Send(errorFrame(errClientEventsOff))
		return
	}
	if len(msg.Event) > maxEventNameLength {
		c.Send(errorFrame(errClientEventTooBig))
		return
	}
	if msg.Channel == "" || registry.ValidateChannel(msg.Channel) != nil {
		c.Send(errorFrame(errInvalidMessage))
		return
	}
	kind := registry.KindOf(msg.Channel)
	if !kind.AcceptsClientEvents() {
		c.srv.log.Info("client event refused: channel kind", "app_id", c.app.ID, "socket_id", c.id, "channel", msg.Channel)
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
	if !subscribed && c.app.AcceptClientEventsFrom == config.ClientEventsMembers {
		c.Send(errorFrame(errNotMember))
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
	c.srv.broadcast(c.app.ID, msg.Channel, b, c.id)
}
