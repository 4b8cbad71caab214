package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
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

// attach creates the relay, which delivers to srv on this node.
func (c *cluster) attach(rdb redis.UniversalClient, cfg *config.Config, srv *ws.Server) {
	c.relay = jobs.NewRedisRelay(rdb, cfg.ScalingPubSubChannel(), c.node, localNode{srv}, c.log)
}

// publisher is the ws.Publisher of this node; the relay is attached after the ws server
// exists, so it forwards to c.relay.
func (c *cluster) publisher() ws.Publisher { return clusterPublisher{c} }

type clusterPublisher struct{ c *cluster }

func (p clusterPublisher) PublishFrame(ctx context.Context, appID, channel, except string, payload []byte) error {
	return p.c.relay.PublishFrame(ctx, appID, channel, except, payload)
}

// goneTimeout bounds publishing one member_removed of a reaped node to the other nodes, so a
// Redis that hangs holds a reap for at most this long per member.
const goneTimeout = time.Second

// start runs the relay's subscriber, the lease, and the watch that re-asserts this node's
// state when Redis comes back; members of a node found dead are removed here and on every
// other node (exactly once cluster-wide, decided by the occupancy).
func (c *cluster) start(srv *ws.Server, rdb redis.UniversalClient) {
	hub := srv.Hub()
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Go(func() { c.runRelay(ctx) })
	c.wg.Go(func() {
		gone := func(appID, channel, userID string) {
			payload := memberRemoved(channel, userID)
			hub.DeliverFrame(appID, channel, "", payload)
			pctx, cancel := context.WithTimeout(ctx, goneTimeout)
			defer cancel()
			if err := c.relay.PublishFrame(pctx, appID, channel, "", payload); err != nil {
				c.log.Warn("member_removed not sent to the other nodes", "app_id", appID, "channel", channel, "err", err)
			}
		}
		if err := c.occupancy.Run(ctx, gone); err != nil {
			c.log.Error("lease stopped", "err", err)
		}
	})
	c.wg.Go(func() { c.watchRedis(ctx, srv, rdb) })
}

// watchRedis pings Redis every second; when it answers again after failing, this node's
// connections and members are written into Redis again, so the cluster state converges
// (a Redis restarted without persistence has lost them).
func (c *cluster) watchRedis(ctx context.Context, srv *ws.Server, rdb redis.UniversalClient) {
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
			if err := srv.Reassert(ctx); err != nil {
				c.log.Warn("re-asserting this node's state failed; retrying", "err", err)
				continue // stay "down" so the next tick tries again
			}
			c.log.Info("redis is back: this node's connections and members are re-asserted")
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

// memberRemoved is the pusher_internal:member_removed frame payload for userID.
func memberRemoved(channel, userID string) []byte {
	return ws.EventPayload("pusher_internal:member_removed", channel, `{"user_id":`+ws.JSONString(userID)+`}`)
}

func newNodeID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
