package ws

import (
	"context"
	"strconv"
	"testing"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/config/catalogue"
	"github.com/reverbd/reverbd/registry"
)

// benchSubscriber returns a connection of a server with the memory occupancy whose frames
// are only queued (a writer owns it), and a function that empties its queue.
func benchSubscriber(b *testing.B) (*Conn, func()) {
	b.Helper()
	return benchSubscriberOf(b, config.App{ID: "1", Key: "k", Secret: "s"})
}

// benchSubscriberOf is benchSubscriber for a connection of app.
func benchSubscriberOf(b *testing.B, app config.App) (*Conn, func()) {
	b.Helper()
	s, err := New(Params{Apps: registry.NewApps([]config.App{app}), Occupancy: registry.NewMemoryOccupancy(), WriteLimit: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	c := &Conn{srv: s, nc: discardConn{}, fd: -1, id: "1234.5678"}
	c.app.Store(s.apps.All()[0])
	s.live.Add(1)
	s.conns.add(c)
	c.writing = true // Send only appends
	return c, func() {
		c.wmu.Lock()
		clear(c.queue)
		c.queue, c.queued = c.queue[:0], 0
		c.wmu.Unlock()
	}
}

// subscribeMessage is the pusher:subscribe pusher-js sends for channel, signed for c, with
// channel_data as a JSON string when it is not empty.
func subscribeMessage(c *Conn, channel, channelData string) []byte {
	msg := c.id + ":" + channel
	if channelData != "" {
		msg += ":" + channelData
	}
	b := []byte(`{"event":"pusher:subscribe","data":{"auth":`)
	b = appendJSONString(b, c.App().Key+":"+registry.Sign(c.App().Secret, msg))
	if channelData != "" {
		b = append(b, `,"channel_data":`...)
		b = appendJSONString(b, channelData)
	}
	b = append(b, `,"channel":`...)
	b = appendJSONString(b, channel)
	return append(b, "}}"...)
}

// subscribeRounds handles, each b.Loop, c's pusher:subscribe of channel (with channelData
// when not empty) and the pusher:unsubscribe that lets the next round subscribe again, then
// empties c's queue.
func subscribeRounds(b *testing.B, c *Conn, empty func(), channel, channelData string) {
	b.Helper()
	sub := subscribeMessage(c, channel, channelData)
	unsub := []byte(`{"event":"pusher:unsubscribe","data":{"channel":"` + channel + `"}}`)
	b.ReportAllocs()
	for b.Loop() {
		c.handleMessage(sub)
		c.handleMessage(unsub)
		empty()
	}
	if c.channels.find(channel) != nil {
		b.Fatal("still subscribed")
	}
}

// BenchmarkSubscribePresence is one presence pusher:subscribe through handleMessage, as in a
// reconnect storm, and the pusher:unsubscribe that lets the next round join again: a channel
// with 49 members (of other nodes: no local fan-out), the subscriber's signature checked, the
// member recorded and the subscription_succeeded frame with 50 members built.
func BenchmarkSubscribePresence(b *testing.B) {
	c, empty := benchSubscriber(b)
	s := c.srv
	const channel = "presence-tenant.7"
	for i := range 49 {
		id := strconv.Itoa(i + 1)
		m := &registry.Member{UserID: id, RawID: []byte(id), Info: []byte(`{"id":` + id + `,"name":"User ` + id + `"}`)}
		if _, err := s.occupancy.Subscribe(context.Background(), "1", channel, "9."+id, m, 0); err != nil {
			b.Fatal(err)
		}
	}
	subscribeRounds(b, c, empty, channel, `{"user_id":350,"user_info":{"id":350,"name":"User 350"}}`)
}

// BenchmarkSubscribePrivate is one private pusher:subscribe through handleMessage, and its
// pusher:unsubscribe.
func BenchmarkSubscribePrivate(b *testing.B) {
	c, empty := benchSubscriber(b)
	subscribeRounds(b, c, empty, "private-tenant.7", "")
}

// BenchmarkSubscribePrivateCatalogue is BenchmarkSubscribePrivate with the app's catalogue off
// and strict: the cost of matching the channel on each subscribe.
func BenchmarkSubscribePrivateCatalogue(b *testing.B) {
	cat, err := catalogue.Parse([]byte(`
- {name: tenant, pattern: "tenant.{id}", kind: [private, presence]}
- {name: tenantAdmins, pattern: "tenant.{id}.admins", kind: private}
- {name: user, pattern: "user.{id}", kind: private}
- {name: order, pattern: "order.{id}", kind: private, cache: true}
`))
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{config.ChannelsOff, config.ChannelsStrict} {
		b.Run(mode, func(b *testing.B) {
			c, empty := benchSubscriberOf(b, config.App{ID: "1", Key: "k", Secret: "s", Channels: cat, ChannelsMode: mode})
			subscribeRounds(b, c, empty, "private-tenant.7", "")
		})
	}
}
