package ws

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/reverbd/reverbd/registry"
)

// Subscription counts. For an app with subscription_count on, the occupancy tells the
// cluster-wide subscription count of a non-presence channel each time it changes (on a
// cluster, the script that changed it publishes it to every node). This node sends it to its
// subscribers of the channel as pusher_internal:subscription_count, which pusher-js emits as
// pusher:subscription_count (https://github.com/pusher/pusher-js, core/channels/channel.ts):
// the first count at once, then at most one per channel per subscriptionCountInterval, the
// latest. A connection that joins the channel gets the latest count known here right after
// its subscription_succeeded (on a cache channel after the cached event or
// pusher:cache_miss, which come first), so it never waits for the next change.

// subscriptionCountInterval is the least time between two counts sent to a channel's
// subscribers.
const subscriptionCountInterval = time.Second

// subscriptionCountTick is how often the counts held back are looked at.
const subscriptionCountTick = subscriptionCountInterval / 4

// countThrottle holds the latest count of each channel that changed lately and sends it to
// the channel's subscribers no more often than subscriptionCountInterval. Its goroutine is
// run, owned by Server.Run.
type countThrottle struct {
	mu       sync.Mutex
	channels map[channelKey]*countState
	kick     chan struct{} // wakes run when the first channel is added
}

// countState is one channel's latest count and when one was last sent.
type countState struct {
	count   int
	sentAt  time.Time
	pending bool // count is still to be sent
}

func (t *countThrottle) init() {
	t.channels = map[channelKey]*countState{}
	t.kick = make(chan struct{}, 1)
}

// subscriptionCountFrame is the pusher_internal:subscription_count frame of channel.
func subscriptionCountFrame(channel string, n int) []byte {
	return eventFrame("pusher_internal:subscription_count", channel, `{"subscription_count":`+strconv.Itoa(n)+`}`)
}

// DeliverCount tells this node's subscribers of a channel its subscription count, decided by
// the occupancy (on a cluster, relayed from the script that changed it), if the channel's
// app has subscription_count on. It never blocks.
func (s *Server) DeliverCount(ev registry.CountEvent) {
	if s.countsSubscriptions(ev.AppID, ev.Channel) {
		s.counts.offer(s.hub, channelKey{ev.AppID, ev.Channel}, ev.Count, time.Now())
	}
}

// countsSubscriptions reports whether the subscribers of channel are told its count.
func (s *Server) countsSubscriptions(appID, channel string) bool {
	app, err := s.apps.ByID(appID)
	if err != nil || !app.SubscriptionCount {
		return false
	}
	kind := registry.KindOf(channel)
	return !kind.IsPresence() && !kind.Has(registry.KindUser)
}

// sendCount sends c, just subscribed to channel, the channel's latest count, if its app
// counts subscriptions.
func (s *Server) sendCount(c *Conn, channel string) {
	if s.countsSubscriptions(c.App().ID, channel) {
		s.counts.joined(s.hub, channelKey{c.App().ID, channel}, c)
	}
}

// offer records n as the count of k and sends it to k's subscribers now, unless a count was
// sent less than subscriptionCountInterval ago: then run sends the latest once the interval
// is over.
func (t *countThrottle) offer(h *Hub, k channelKey, n int, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.channels[k]
	if st == nil {
		st = &countState{}
		if len(t.channels) == 0 {
			select {
			case t.kick <- struct{}{}:
			default:
			}
		}
		t.channels[k] = st
	}
	st.count = n
	if st.pending {
		return
	}
	if now.Sub(st.sentAt) < subscriptionCountInterval {
		st.pending = true
		return
	}
	st.sentAt = now
	h.publish(k.app, k.channel, "", func() []byte { return subscriptionCountFrame(k.channel, n) })
}

// joined sends c, which has just joined k, the latest count of k known here, if any. Under
// t.mu, so that it never follows a newer count sent to the channel; through h.queue, so that
// on a cache channel it follows the cached event as the newer counts do.
func (t *countThrottle) joined(h *Hub, k channelKey, c *Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.channels[k]; st != nil && st.count > 0 {
		h.queue(k.app, k.channel, c, subscriptionCountFrame(k.channel, st.count))
	}
}

// flush sends the counts held back whose interval is over and forgets the channels that
// have nothing left to send. It reports whether any channel is left.
func (t *countThrottle) flush(h *Hub, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, st := range t.channels {
		if now.Sub(st.sentAt) < subscriptionCountInterval {
			continue
		}
		if !st.pending {
			delete(t.channels, k)
			continue
		}
		st.pending, st.sentAt = false, now
		n := st.count
		h.publish(k.app, k.channel, "", func() []byte { return subscriptionCountFrame(k.channel, n) })
	}
	return len(t.channels) > 0
}

// run sends the counts held back, every subscriptionCountTick while there are any, until ctx
// ends.
func (t *countThrottle) run(ctx context.Context, h *Hub) {
	tick := time.NewTicker(subscriptionCountTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
		}
		tick.Reset(subscriptionCountTick)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if !t.flush(h, time.Now()) {
				break
			}
		}
	}
}
