package ws

import (
	"context"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

const hubShards = 64

// inlineFanout is the largest channel whose frames the delivering goroutine writes itself.
const inlineFanout = 4

// Hub is this node's fan-out: the connections subscribed to each channel, and the delivery
// of an event to them. It implements jobs.Deliverer. It is safe for concurrent use and never
// blocks on a socket: delivery only queues frames (Conn.Send).
type Hub struct {
	seed   maphash.Seed
	shards [hubShards]hubShard
	// log, set only when the server logs at debug level, gets a line for each Deliver.
	log *slog.Logger
	// metrics counts the channels, subscriptions and frames; nil counts nothing.
	metrics *metrics.Metrics
	// apps gives the metrics' shape label its source: an app's catalogue pattern, when it
	// has a catalogue (see registry.ChannelLabel).
	apps *registry.Apps
}

type hubShard struct {
	mu       sync.RWMutex
	channels map[channelKey]*subscribers
	count    int // subscriptions in channels
}

type channelKey struct{ app, channel string }

// smallChannel is the most subscribers a channel keeps without an index. Most channels
// (private-user.{id}, an order's channel) have one or two, and a search through a few
// pointers is as fast as a map lookup without the map's memory.
const smallChannel = 16

// subscribers is the local subscriber list of one channel: a slice for fast iteration and,
// past smallChannel subscribers, an index for O(1) removal.
type subscribers struct {
	conns []*Conn
	// index is the place of each subscriber in conns once the channel has grown past
	// smallChannel; it is dropped again when the channel shrinks to half of that.
	index map[*Conn]int
	// users is the presence user id of each subscriber of a presence channel; nil elsewhere.
	users map[*Conn]string
	// gates orders the frames of subscribers whose cache-channel or presence subscribe is
	// completing (see gate, hold); nil when there is none.
	gates map[*Conn]*gate
	// view is what the subscribers of a presence channel have been told of its members (see
	// presenceView); nil elsewhere, and until the first member list.
	view *presenceView
	// stats is the channel's shape's metrics, resolved when the entry is made; nil when
	// metrics are off.
	stats *metrics.Channels
}

func newHub(m *metrics.Metrics, apps *registry.Apps) *Hub {
	h := &Hub{seed: maphash.MakeSeed(), metrics: m, apps: apps}
	for i := range h.shards {
		h.shards[i].channels = map[channelKey]*subscribers{}
	}
	return h
}

func (h *Hub) shard(k channelKey) *hubShard { return &h.shards[h.index(k)] }

func (h *Hub) index(k channelKey) uint64 {
	var mh maphash.Hash
	mh.SetSeed(h.seed)
	mh.WriteString(k.app)
	mh.WriteByte(0)
	mh.WriteString(k.channel)
	return mh.Sum64() % hubShards
}

// add subscribes c to channel of app; it reports false if c was already subscribed.
func (h *Hub) add(app, channel string, c *Conn) bool {
	k := channelKey{app, channel}
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.subscribersOf(k, h).insert(c) {
		return false
	}
	sh.count++
	return true
}

// subscribersOf returns the subscribers of k, creating the entry (with its shape's metrics
// from h's). Called with sh.mu held.
func (sh *hubShard) subscribersOf(k channelKey, h *Hub) *subscribers {
	subs := sh.channels[k]
	if subs == nil {
		subs = &subscribers{}
		if h.metrics != nil {
			kind := registry.KindOf(k.channel)
			subs.stats = h.metrics.App(k.app).Channels(kind.Name(), h.label(k))
			subs.stats.Opened()
		}
		sh.channels[k] = subs
	}
	return subs
}

// label is the shape label of k's channel in metrics.
func (h *Hub) label(k channelKey) string {
	var app *config.App
	if h.apps != nil {
		app, _ = h.apps.ByID(k.app)
	}
	return registry.ChannelLabel(app, k.channel)
}

// find returns the place of c in s.conns, or -1.
func (s *subscribers) find(c *Conn) int {
	if s.index == nil {
		return slices.Index(s.conns, c)
	}
	if i, ok := s.index[c]; ok {
		return i
	}
	return -1
}

// insert adds c, reporting false if it was there already.
func (s *subscribers) insert(c *Conn) bool {
	if s.find(c) >= 0 {
		return false
	}
	s.conns = append(s.conns, c)
	s.stats.Subscribed()
	switch {
	case s.index != nil:
		s.index[c] = len(s.conns) - 1
	case len(s.conns) > smallChannel:
		s.index = make(map[*Conn]int, len(s.conns))
		for i, sub := range s.conns {
			s.index[sub] = i
		}
	}
	return true
}

// delete removes c, moving the last subscriber to its place, and returns c's presence user
// id; it reports false if c was not there.
func (s *subscribers) delete(c *Conn) (userID string, ok bool) {
	i := s.find(c)
	if i < 0 {
		return "", false
	}
	last := len(s.conns) - 1
	moved := s.conns[last]
	s.conns[i] = moved
	s.conns[last] = nil
	s.conns = s.conns[:last]
	s.stats.Unsubscribed()
	if s.index != nil {
		delete(s.index, c)
		if moved != c {
			s.index[moved] = i
		}
		if len(s.conns) <= smallChannel/2 {
			s.index = nil
		}
	}
	userID = s.users[c]
	delete(s.users, c)
	delete(s.gates, c)
	if s.view != nil {
		delete(s.view.from, c)
	}
	return userID, true
}

// join subscribes c to channel of app, if it is not yet, and queues first (the
// subscription_succeeded frame) on c in the same step, so that no frame of the channel reaches
// c before it. userID is the presence user of c, "" elsewhere. With hold set, the channel's
// frames for c are held from then on until settle sends them after the cached event.
func (h *Hub) join(app, channel string, c *Conn, userID string, first []byte, hold bool) {
	k := channelKey{app, channel}
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := sh.subscribersOf(k, h)
	if subs.insert(c) {
		sh.count++
	}
	if userID != "" {
		if subs.users == nil {
			subs.users = map[*Conn]string{}
		}
		subs.users[c] = userID
	}
	subs.sweepGates()
	if hold {
		if subs.gates == nil {
			subs.gates = map[*Conn]*gate{}
		}
		subs.gates[c] = &gate{holding: true}
	}
	c.Send(first)
}

// remove unsubscribes c from channel of app.
func (h *Hub) remove(app, channel string, c *Conn) { h.leave(app, channel, c) }

// leave unsubscribes c from channel of app and returns its presence user id ("" if none).
func (h *Hub) leave(app, channel string, c *Conn) (userID string) {
	k := channelKey{app, channel}
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := sh.channels[k]
	if subs == nil {
		return ""
	}
	userID, ok := subs.delete(c)
	if ok {
		sh.count--
	}
	if len(subs.conns) == 0 {
		delete(sh.channels, k)
		subs.stats.Emptied()
	}
	return userID
}

// subscriptions returns the number of subscriptions of this node's connections.
func (h *Hub) subscriptions() int {
	n := 0
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		n += sh.count
		sh.mu.RUnlock()
	}
	return n
}

// hasUser reports whether a local subscriber of channel is the presence user userID.
func (h *Hub) hasUser(app, channel, userID string) bool {
	k := channelKey{app, channel}
	sh := h.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if subs := sh.channels[k]; subs != nil {
		for _, id := range subs.users {
			if id == userID {
				return true
			}
		}
	}
	return false
}

// publish queues one frame on every local subscriber of channel except the one with socket
// id except ("" excludes nobody). The frame is built once, by build, and only when the
// channel has a local subscriber.
func (h *Hub) publish(app, channel, except string, build func() []byte) {
	h.publishEvent(app, channel, except, nil, build)
}

// publishEvent is publish for a frame that a subscriber whose cache-channel subscribe is
// completing must be able to recognize: ev is the trigger it carries (see gate); nil for
// other frames. It returns the number of subscribers the frame was queued on (a held frame
// counts when it is sent).
func (h *Hub) publishEvent(app, channel, except string, ev *registry.Event, build func() []byte) int {
	k := channelKey{app, channel}
	sh := h.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	subs := sh.channels[k]
	if subs == nil {
		return 0
	}
	frame := build()
	// A small channel is written at once by this goroutine (one hand-off less, lower
	// latency); a big one is left to the writer pool, which spreads the system calls over
	// the cores and coalesces frames.
	inline := len(subs.conns) <= inlineFanout
	n := 0
	for _, c := range subs.conns {
		if c.id == except {
			continue
		}
		if subs.gates != nil {
			if g := subs.gates[c]; g != nil && !g.pass(frame, ev) {
				continue
			}
		}
		c.send(frame, inline)
		n++
	}
	subs.stats.Sent(n, n*len(frame)) // once per publish, never per subscriber
	return n
}

// Deliver implements jobs.Deliverer: each channel's frame is encoded once and the same bytes
// are queued on each of its local subscribers, skipping ev.SocketID. A connection subscribed
// to several of the channels gets one frame per channel.
func (h *Hub) Deliver(_ context.Context, ev registry.Event) {
	var start time.Duration
	if h.metrics != nil {
		start = time.Since(clockBase)
	}
	var logStart time.Time
	if h.log != nil {
		logStart = time.Now()
	}
	frames := 0
	for _, ch := range ev.Channels {
		frames += h.publishEvent(ev.AppID, ch, ev.SocketID, &ev, func() []byte { return eventFrame(ev.Name, ch, ev.Data) })
	}
	if h.metrics != nil && !ev.QueuedAt.IsZero() {
		end := time.Since(clockBase)
		h.metrics.App(ev.AppID).FannedOut(frames, end-start, sinceQueued(ev.QueuedAt, end))
	}
	if h.log != nil {
		h.logDelivered(&ev, logStart)
	}
}

// clockBase is the monotonic reading the fan-out is timed against: time.Since of a time with
// a monotonic reading reads one clock, where time.Now reads two, and the fan-out's metrics are
// paid for on every event.
var clockBase = time.Now()

// sinceQueued is the time from queuedAt to now, given as time.Since(clockBase). An event
// accepted by this process (the memory queue) carries a monotonic reading and needs no clock
// read; one decoded from Redis has only the wall clock, read once more.
func sinceQueued(queuedAt time.Time, now time.Duration) time.Duration {
	if queuedAt == queuedAt.Round(0) { // Round(0) drops a monotonic reading: there is none
		return time.Since(queuedAt)
	}
	return now - queuedAt.Sub(clockBase)
}

// DeliverFrame queues a frame payload made on another node (a client event) on this node's
// subscribers of channel, except the socket except.
func (h *Hub) DeliverFrame(appID, channel, except string, payload []byte) {
	h.publish(appID, channel, except, func() []byte { return textFrame(payload) })
}
