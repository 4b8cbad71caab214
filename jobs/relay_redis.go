package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// LocalNode is what a relay delivers to on its own node (the socket layer, wired by
// cmd/reverbd). Its methods must not block on any socket.
type LocalNode interface {
	// Deliver fans an event out to this node's subscribers.
	Deliver(ctx context.Context, ev registry.Event)
	// DeliverFrame queues a ready frame payload (a client or presence event of another node)
	// on this node's subscribers of channel, except the socket except.
	DeliverFrame(appID, channel, except string, payload []byte)
	// TerminateUser closes this node's connections of the user.
	TerminateUser(appID, userID string)
	// DeliverMember applies a presence member event, decided and published by the shared
	// occupancy, to this node's subscribers of its channel.
	DeliverMember(ev registry.MemberEvent)
	// DeliverCount tells this node's subscribers of a channel its subscription count, decided
	// and published by the shared occupancy.
	DeliverCount(ev registry.CountEvent)
	// DeliverOnline tells this node's connections watching a user that it came online or went
	// offline, as decided and published by the shared occupancy.
	DeliverOnline(ev registry.OnlineEvent)
}

// relayMessage is one message between nodes on the scaling channel, as JSON, a "frame"'s
// payload in it as "p" byte for byte (see encodeRelay).
type relayMessage struct {
	Kind    string          `json:"k"` // "event", "frame", "member", "count", "online", "offline", "terminate" or "probe"
	Node    string          `json:"n"` // the node that published it
	Event   *registry.Event `json:"e,omitempty"`
	AppID   string          `json:"a,omitempty"`
	Channel string          `json:"c,omitempty"`
	Except  string          `json:"x,omitempty"`
	Payload []byte          `json:"-"` // a "frame"'s payload: "p", spliced in by encodeRelay
	UserID  string          `json:"u,omitempty"`
	ProbeID string          `json:"i,omitempty"`
	// A "member" message is published by the occupancy's scripts (registry.RedisOccupancy):
	// UserID, the channel's sequence number, and the stored member fields: in Member on
	// member_added, in Removed on member_removed (absent when the store no longer held them).
	// A "count" message, also published by the occupancy's scripts, has the channel's
	// subscription count in Seq. "online" and "offline" messages, also published by the
	// occupancy's scripts, have the user in UserID and the app's online event number in Seq.
	Seq     uint64   `json:"s,omitempty"`
	Member  []string `json:"m,omitempty"`
	Removed []string `json:"r,omitempty"`
	// SentAt is when the message was published, in Unix nanoseconds (0 from a node that
	// does not say): the receiver's relay_lag_seconds.
	SentAt int64 `json:"t,omitempty"`
}

// RedisRelay carries work between nodes over Redis pub/sub (REVERB_SCALING_CHANNEL): events
// from the delivery workers to every node, client events from the node where they happened
// to the others, presence member events and subscription counts from the occupancy's scripts
// to every node, users coming online and going offline from the same scripts to every node,
// and terminate requests to every node. Pub/sub is at most
// once: what is published while a node is reconnecting does not reach it.
type RedisRelay struct {
	rdb     redis.UniversalClient
	channel string
	node    string
	local   LocalNode
	log     *slog.Logger
	metrics *metrics.Metrics

	mu     sync.Mutex
	probes map[string]chan struct{} // guarded by mu; Probe waits on these
	seq    atomic.Uint64

	published atomic.Uint64
	failed    atomic.Uint64
}

// RelayStats counts the messages a relay published since it started: events, frames,
// terminate requests and probes alike.
type RelayStats struct {
	// Published counts the messages Redis took; Failed those it did not (Redis unreachable,
	// or the caller's context ended first). A failed message reaches no node.
	Published uint64
	Failed    uint64
}

// NewRedisRelay returns a relay on the Redis channel for node, delivering to local; m (nil:
// nothing) records how long the events and frames took to arrive.
func NewRedisRelay(rdb redis.UniversalClient, channel, node string, local LocalNode, log *slog.Logger, m *metrics.Metrics) *RedisRelay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RedisRelay{rdb: rdb, channel: channel, node: node, local: local, log: log, metrics: m, probes: map[string]chan struct{}{}}
}

// Stats returns the counters. It is safe for concurrent use.
func (r *RedisRelay) Stats() RelayStats {
	return RelayStats{Published: r.published.Load(), Failed: r.failed.Load()}
}

// Probe publishes a message on the channel and waits until this node's own subscription
// receives it: the end-to-end check that the node hears the others (Run must be running).
func (r *RedisRelay) Probe(ctx context.Context) error {
	id := strconv.FormatUint(r.seq.Add(1), 10)
	got := make(chan struct{})
	r.mu.Lock()
	r.probes[id] = got
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.probes, id)
		r.mu.Unlock()
	}()
	if err := r.publish(ctx, relayMessage{Kind: "probe", ProbeID: id}); err != nil {
		return err
	}
	select {
	case <-got:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("relay: probe not received: %w", ctx.Err())
	}
}

// Deliver implements Deliverer: the event goes to every node, this one included. An event
// Redis does not take reaches no node; it is counted in Stats as failed and logged.
func (r *RedisRelay) Deliver(ctx context.Context, ev registry.Event) {
	if err := r.publish(ctx, relayMessage{Kind: "event", Event: &ev}); err != nil {
		r.log.Error("event not relayed to the nodes", "app_id", ev.AppID, "event", ev.Name, "err", err)
	}
}

// PublishFrame sends a frame payload that this node already delivered locally to the other
// nodes' subscribers of channel.
func (r *RedisRelay) PublishFrame(ctx context.Context, appID, channel, except string, payload []byte) error {
	return r.publish(ctx, relayMessage{Kind: "frame", AppID: appID, Channel: channel, Except: except, Payload: payload})
}

// TerminateUser asks every node, this one included, to close the user's connections.
func (r *RedisRelay) TerminateUser(ctx context.Context, appID, userID string) error {
	return r.publish(ctx, relayMessage{Kind: "terminate", AppID: appID, UserID: userID})
}

func (r *RedisRelay) publish(ctx context.Context, m relayMessage) error {
	m.Node = r.node
	m.SentAt = time.Now().UnixNano()
	b, err := encodeRelay(m)
	if err != nil {
		return err
	}
	if err := r.rdb.Publish(ctx, r.channel, b).Err(); err != nil {
		r.failed.Add(1)
		return fmt.Errorf("relay: publish: %w", err)
	}
	r.published.Add(1)
	return nil
}

// Run subscribes to the scaling channel and delivers what arrives until ctx ends. go-redis
// re-subscribes by itself after a lost connection; subscribed, if not nil, is called when
// Redis confirms the subscription, the first time and after every re-subscription.
func (r *RedisRelay) Run(ctx context.Context, subscribed func()) error {
	ps := r.rdb.Subscribe(ctx, r.channel)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil
		}
		return fmt.Errorf("relay: subscribe %s: %w", r.channel, err)
	}
	if subscribed != nil {
		subscribed()
	}
	msgs := ps.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			switch m := m.(type) {
			case *redis.Message:
				r.dispatch(ctx, m.Payload)
			case *redis.Subscription:
				if m.Kind == "subscribe" && subscribed != nil {
					subscribed()
				}
			}
		}
	}
}

// encodeRelay encodes m as its JSON, with a "frame"'s payload spliced in as "p" byte for byte:
// encoding/json would compact it and escape its <, >, & and U+2028, and the other nodes'
// subscribers must get the bytes the sender's got. The message is the JSON an earlier
// version's encoding/json made, but for that, so nodes of both versions read each other's
// frames during a rolling restart.
func encodeRelay(m relayMessage) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("relay: encode: %w", err)
	}
	if m.Kind != "frame" {
		return b, nil
	}
	if !json.Valid(m.Payload) {
		return nil, errors.New("relay: encode: the frame payload is not JSON")
	}
	out := make([]byte, 0, len(b)+len(m.Payload)+5)
	out = append(out, b[:len(b)-1]...) // without the closing brace
	out = append(out, `,"p":`...)
	out = append(out, m.Payload...)
	return append(out, '}'), nil
}

// decodeRelay decodes a message encodeRelay made, or one the occupancy's scripts publish.
// json.RawMessage takes the payload's bytes as they are.
func decodeRelay(msg string) (relayMessage, error) {
	var m struct {
		relayMessage
		Payload json.RawMessage `json:"p"`
	}
	if err := json.Unmarshal([]byte(msg), &m); err != nil {
		return relayMessage{}, err
	}
	m.relayMessage.Payload = m.Payload
	return m.relayMessage, nil
}

func (r *RedisRelay) dispatch(ctx context.Context, payload string) {
	m, err := decodeRelay(payload)
	if err != nil {
		r.log.Warn("undecodable relay message dropped", "size", len(payload))
		return
	}
	if m.SentAt != 0 && (m.Kind == "event" || m.Kind == "frame") {
		r.metrics.ObserveRelayLag(m.Kind, time.Since(time.Unix(0, m.SentAt)).Seconds())
	}
	switch m.Kind {
	case "event":
		if m.Event != nil {
			r.local.Deliver(ctx, *m.Event)
		}
	case "frame":
		if m.Node != r.node {
			r.local.DeliverFrame(m.AppID, m.Channel, m.Except, m.Payload)
		}
	case "member":
		ev := registry.MemberEvent{AppID: m.AppID, Channel: m.Channel, Member: registry.Member{UserID: m.UserID},
			Seq: m.Seq, Except: m.Except}
		switch {
		case m.Member != nil:
			member, err := registry.MemberFromFields(m.Member)
			if err != nil {
				r.log.Warn("undecodable member event dropped", "app_id", m.AppID, "channel", m.Channel, "err", err)
				return
			}
			ev.Member, ev.Added = member, true
		case m.Removed != nil:
			if gone, err := registry.MemberFromFields(m.Removed); err == nil {
				ev.Member.RawID = gone.RawID // the id keeps the JSON type it joined with
			}
		}
		r.local.DeliverMember(ev)
	case "count":
		r.local.DeliverCount(registry.CountEvent{AppID: m.AppID, Channel: m.Channel, Count: int(m.Seq)})
	case "online", "offline":
		r.local.DeliverOnline(registry.OnlineEvent{AppID: m.AppID, UserID: m.UserID, Online: m.Kind == "online", Seq: m.Seq})
	case "terminate":
		r.local.TerminateUser(m.AppID, m.UserID)
	case "probe":
		if m.Node == r.node {
			r.mu.Lock()
			if got, ok := r.probes[m.ProbeID]; ok {
				close(got)
				delete(r.probes, m.ProbeID)
			}
			r.mu.Unlock()
		}
	default:
		r.log.Warn("unknown relay message dropped", "kind", m.Kind)
	}
}
