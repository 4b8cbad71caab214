package ws

import (
	"sync"
	"time"

	"github.com/reverbd/reverbd/registry"
)

// A cache channel's subscriber must see subscription_succeeded, then the cached event (or
// pusher:cache_miss), then the live events, each event once and never an older one after a
// newer one, although a delivery stores the cache (jobs.Worker) before it reaches the Hub and
// may race the subscribe. The subscribe goes in three steps, none of which waits for I/O
// while holding the channel's shard lock:
//
//  1. Hub.join adds the subscriber, queues subscription_succeeded and opens a gate in the same
//     step: from then on, the channel's frames for this subscriber are held.
//  2. The subscriber reads the cache.
//  3. Hub.settle queues the cached event, then the held frames, less the triggers that the
//     cached event already covers: itself and the older ones (held before it, or accepted
//     before it). If the cached trigger was not held, its delivery may still be on its way
//     (stored before step 2, delivered after step 3): the gate then skips it if it is the next
//     trigger to arrive, and opens for good on the first trigger either way.
//
// Triggers of one channel are delivered in the order they were stored (one ordered worker),
// so what arrives after the cached trigger is newer. A trigger is recognized by its name,
// data and QueuedAt (registry.CachedEvent keeps them); QueuedAt also tells a held trigger
// stored before the cached one, whose delivery was overtaken by the cache read.
type gate struct {
	mu      sync.Mutex // publishers share the shard's read lock
	holding bool       // between join and settle
	held    []heldFrame
	skip    *registry.CachedEvent // after settle: the cached trigger, if it may still arrive
}

// heldFrame is one held frame; name, data and queuedAt identify the trigger it carries.
type heldFrame struct {
	frame      []byte
	trigger    bool // an event from Deliver, as opposed to a client or member event
	name, data string
	queuedAt   time.Time
	member     memberChange // the presence member event it carries; zero if none
}

// isTrigger reports whether name, data and queuedAt are those of the cached trigger ev.
func isTrigger(ev *registry.CachedEvent, name, data string, queuedAt time.Time) bool {
	return name == ev.Event && data == ev.Data && (ev.QueuedAt.IsZero() || queuedAt.Equal(ev.QueuedAt))
}

// pass reports whether frame (the frame of ev, a trigger, or of nothing the cache covers when
// ev is nil) goes to the subscriber now; a held frame waits for settle (or open).
func (g *gate) pass(frame []byte, ev *registry.Event) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holding {
		f := heldFrame{frame: frame}
		if ev != nil {
			f.trigger, f.name, f.data, f.queuedAt = true, ev.Name, ev.Data, ev.QueuedAt
		}
		g.held = append(g.held, f)
		return false
	}
	if ev == nil || g.skip == nil {
		return true
	}
	dup := isTrigger(g.skip, ev.Name, ev.Data, ev.QueuedAt)
	g.skip = nil
	return !dup
}

// done reports whether g no longer changes anything. Called with the shard locked.
func (g *gate) done() bool { return !g.holding && g.skip == nil }

// sweepGates drops the gates that are done. Called with the shard locked.
func (subs *subscribers) sweepGates() {
	for c, g := range subs.gates {
		if g.done() {
			delete(subs.gates, c)
		}
	}
	if len(subs.gates) == 0 {
		subs.gates = nil
	}
}

// queue queues frame, one of channel's frames for c alone, on c: held with the channel's
// other frames while c's cache-channel subscribe is completing (between join and settle),
// else at once.
func (h *Hub) queue(app, channel string, c *Conn, frame []byte) {
	k := channelKey{app, channel}
	sh := h.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if subs := sh.channels[k]; subs != nil && subs.gates != nil {
		if g := subs.gates[c]; g != nil && !g.pass(frame, nil) {
			return
		}
	}
	c.Send(frame)
}

// settle completes a cache-channel subscribe that join began with hold set (step 3 above):
// it queues on c the cached event (cached, when ok) or pusher:cache_miss, then the frames
// held since join.
func (h *Hub) settle(app, channel string, c *Conn, cached registry.CachedEvent, ok bool) {
	k := channelKey{app, channel}
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := sh.channels[k]
	if subs == nil || subs.gates[c] == nil || !subs.gates[c].holding {
		return // c left meanwhile
	}
	g := subs.gates[c]
	held := g.held // no publisher holds g.mu: they need the read lock
	g.holding, g.held = false, nil
	covered := -1 // the last held frame that the cached event covers
	if !ok {
		c.Send(channelFrame("pusher:cache_miss", channel))
	} else {
		c.Send(eventFrame(cached.Event, channel, cached.Data))
		for i := range held {
			if f := &held[i]; f.trigger && isTrigger(&cached, f.name, f.data, f.queuedAt) {
				covered = i
			}
		}
		if covered < 0 {
			g.skip = &cached
		}
	}
	for i, f := range held {
		if f.trigger && ok && (i <= covered || f.queuedAt.Before(cached.QueuedAt)) {
			continue
		}
		c.Send(f.frame)
	}
	subs.sweepGates()
}
