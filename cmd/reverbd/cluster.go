package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
	"github.com/reverbd/reverbd/ws"
)

// cluster is what a node adds when REVERB_SCALING_ENABLED is set: the shared state in Redis
// (occupancy with this node's lease, the cache) and the relay to the other nodes.
type cluster struct {
	node      string
	occupancy *registry.RedisOccupancy
	cache     *registry.RedisCache
	relay     *jobs.RedisRelay
	log       *slog.Logger

	subscribed atomic.Bool // the relay's subscription is confirmed
	srv        *ws.Server  // set by start
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

func newCluster(cfg *config.Config, rdb redis.UniversalClient, log *slog.Logger) *cluster {
	prefix := cfg.ScalingKeyPrefix()
	node := newNodeID()
	log = log.With("component", "cluster")
	return &cluster{
		node: node,
		occupancy: registry.NewRedisOccupancy(registry.RedisOccupancyParams{
			// The occupancy names the node in its own lines (its own or a reaped one).
			Redis: rdb, Prefix: prefix, NodeID: node, LeaseTTL: cfg.ScalingLease, Log: log,
		}),
		cache: registry.NewRedisCache(rdb, prefix),
		log:   log.With("node", node),
	}
}

// attach creates the relay, which delivers to srv on this node and records its lag in m.
func (c *cluster) attach(rdb redis.UniversalClient, cfg *config.Config, srv *ws.Server, m *metrics.Metrics) {
	c.relay = jobs.NewRedisRelay(rdb, cfg.ScalingPubSubChannel(), c.node, localNode{srv}, c.log, m)
}

// publisher is the ws.Publisher of this node; the relay is attached after the ws server
// exists, so it forwards to c.relay.
func (c *cluster) publisher() ws.Publisher { return clusterPublisher{c} }

type clusterPublisher struct{ c *cluster }

func (p clusterPublisher) PublishFrame(ctx context.Context, appID, channel, except string, payload []byte) error {
	return p.c.relay.PublishFrame(ctx, appID, channel, except, payload)
}

// probeTimeout bounds the relay probe that comes before a repair's announcements.
const probeTimeout = time.Second

// start runs the relay's subscriber, the lease (with the reaping of dead nodes and the
// write-back of this node's state whenever Redis lost it), and the watch that asks for a
// write-back when Redis comes back after an outage.
func (c *cluster) start(srv *ws.Server, rdb redis.UniversalClient) {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.srv = cancel, srv
	c.wg.Go(func() { c.runRelay(ctx) })
	c.wg.Go(func() {
		if err := c.occupancy.Run(ctx, func(changes []registry.MemberChange) { c.announce(ctx, srv, changes) }); err != nil {
			c.log.Error("lease stopped", "err", err)
		}
	})
	c.wg.Go(func() { c.watchRedis(ctx, rdb) })
}

// announce tells every node's clients, this node's included, about the members that a
// repair of the shared state changed: the members of a reaped node (the occupancy decides
// once for the cluster which ones), and what a write-back of this node's state added or
// removed. Each user is announced as Redis has it when the event goes out (member_added or
// member_removed), under the channel's presence lock (ws.Server.AnnounceMembers), so a
// subscribe or leave of this node that raced the repair cannot be told out of order.
//
// A relay probe comes first, so that member events the others published before (a
// reaper's member_removed, which a node that was paused reads only now) reach this node's
// clients before these.
func (c *cluster) announce(ctx context.Context, srv *ws.Server, changes []registry.MemberChange) {
	if c.subscribed.Load() {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		_ = c.relay.Probe(pctx)
		cancel()
	}
	type channelKey struct{ app, channel string }
	var order []channelKey
	made := map[channelKey]map[string]registry.MemberChange{} // per channel, user → last change
	for _, ch := range changes {
		k := channelKey{ch.AppID, ch.Channel}
		if made[k] == nil {
			made[k] = map[string]registry.MemberChange{}
			order = append(order, k)
		}
		made[k][ch.Member.UserID] = ch
	}
	for _, k := range order {
		srv.AnnounceMembers(k.app, k.channel, func() [][]byte {
			users := slices.Sorted(maps.Keys(made[k]))
			now, err := c.occupancy.MembersOf(ctx, k.app, k.channel, users)
			if err != nil {
				c.log.Warn("members not read again before their announcement; announced as changed", "channel", k.channel, "err", err)
			}
			payloads := make([][]byte, 0, len(users))
			for i, u := range users {
				ch := made[k][u]
				if err == nil {
					ch.Added = now[i] != nil
					if ch.Added {
						ch.Member = *now[i]
					}
				}
				payloads = append(payloads, memberEvent(ch))
			}
			return payloads
		})
	}
}

// watchRedis pings Redis every second and keeps the relay's readiness; when Redis answers
// again after failing, it asks for this node's connections and members to be written back
// (a Redis restarted without persistence has lost them, and writes failed meanwhile).
func (c *cluster) watchRedis(ctx context.Context, rdb redis.UniversalClient) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	up := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		ok := rdb.Ping(pctx).Err() == nil
		// The relay hears the others only if a message it publishes comes back through its
		// own subscription; until then /up stays unready, so a load balancer keeps traffic
		// away from a node cut off from the cluster.
		c.subscribed.Store(ok && c.relay.Probe(pctx) == nil)
		cancel()
		if ok && !up {
			c.log.Info("redis is back: this node's connections and members are written back")
			c.occupancy.RequestReassert()
		}
		up = ok
	}
}

// runRelay keeps the relay's subscription up until ctx ends. go-redis re-subscribes by itself
// after a lost connection; this loop covers a subscription that never started (Redis down
// when the node started).
func (c *cluster) runRelay(ctx context.Context) {
	for ctx.Err() == nil {
		err := c.relay.Run(ctx, nil)
		if err == nil || ctx.Err() != nil {
			return
		}
		c.log.Error("relay subscription failed; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// leave removes this node's members and connections from the shared state at once, for a
// graceful stop before the sockets close, and tells every node's clients the members that
// left (a user still connected through another node stays).
func (c *cluster) leave(ctx context.Context) {
	if c.srv == nil {
		return // never started
	}
	if err := c.occupancy.Leave(ctx, func(changes []registry.MemberChange) { c.announce(ctx, c.srv, changes) }); err != nil {
		c.log.Warn("this node's state was not removed at once; its connections remove it as they close", "err", err)
	}
}

// stop ends the relay's subscriber and the lease renewal.
func (c *cluster) stop() {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
}

// localNode adapts this node's ws.Server to jobs.LocalNode.
type localNode struct{ srv *ws.Server }

func (n localNode) Deliver(ctx context.Context, ev registry.Event) { n.srv.Hub().Deliver(ctx, ev) }
func (n localNode) DeliverFrame(appID, channel, except string, payload []byte) {
	n.srv.Hub().DeliverFrame(appID, channel, except, payload)
}
func (n localNode) TerminateUser(appID, userID string) { n.srv.TerminateUser(appID, userID) }

// memberEvent is the pusher_internal:member_added or member_removed frame payload of a
// member change.
func memberEvent(c registry.MemberChange) []byte {
	data := `{"user_id":` + ws.JSONString(c.Member.UserID)
	if !c.Added {
		return ws.EventPayload("pusher_internal:member_removed", c.Channel, data+`}`)
	}
	if c.Member.Info != nil {
		data += `,"user_info":` + string(c.Member.Info)
	}
	return ws.EventPayload("pusher_internal:member_added", c.Channel, data+`}`)
}

func newNodeID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
