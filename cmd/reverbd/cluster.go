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
	"github.com/reverbd/reverbd/registry/metrics"
	"github.com/reverbd/reverbd/ws"
)

// cluster is what a node adds when REVERB_SCALING_ENABLED is set: the shared state in Redis
// (occupancy with this node's lease, the cache) and the relay to the other nodes.
type cluster struct {
	node      string
	occupancy *registry.RedisOccupancy
	hooks     *registry.RedisWebhookFeed // the occupancy's scripts decide into it
	cache     *registry.RedisCache
	relay     *jobs.RedisRelay
	log       *slog.Logger

	subscribed atomic.Bool // the relay's subscription is confirmed
	srv        *ws.Server  // set by start
	// resync asks for this node's presence lists to be read again once the cluster has had
	// settle to write its state back (capacity 1: requests coalesce).
	resync chan struct{}
	settle time.Duration
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newCluster(cfg *config.Config, apps *registry.Apps, rdb redis.UniversalClient, log *slog.Logger) *cluster {
	prefix := cfg.ScalingKeyPrefix()
	node := newNodeID()
	hooks := registry.NewRedisWebhookFeed(registry.RedisWebhookFeedParams{
		Redis: rdb, Prefix: prefix, NodeID: node, LeaseTTL: cfg.ScalingLease,
		Wants:        apps.WantsWebhook,
		VacatedDelay: cfg.WebhookVacatedDelay,
		BatchWindow:  cfg.WebhookBatchWindow,
		BatchSize:    cfg.WebhookBatchSize,
		Log:          log.With("component", "webhooks"),
	})
	log = log.With("component", "cluster")
	return &cluster{
		node:  node,
		hooks: hooks,
		occupancy: registry.NewRedisOccupancy(registry.RedisOccupancyParams{
			// The occupancy names the node in its own lines (its own or a reaped one).
			Redis: rdb, Prefix: prefix, Relay: cfg.ScalingPubSubChannel(), NodeID: node, LeaseTTL: cfg.ScalingLease, Log: log,
			Apps:     apps, // publishes the subscription counts of the apps that have them on
			Webhooks: hooks,
		}),
		cache:  registry.NewRedisCache(rdb, prefix),
		log:    log.With("node", node),
		resync: make(chan struct{}, 1),
		settle: resyncSettle(cfg.ScalingLease),
	}
}

// resyncSettle is how long a node waits, after a write-back or a relay re-subscription,
// before it reads its presence lists again: a renewal interval of every node (a third of the
// lease) and a second, so that after a Redis restart the lists it reads hold the members
// every node has written back, and its clients are not told members left who did not.
func resyncSettle(lease time.Duration) time.Duration {
	if lease <= 0 {
		lease = registry.DefaultLeaseTTL
	}
	return lease/3 + time.Second
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

// start runs the relay's subscriber, the lease (with the reaping of dead nodes and the
// write-back of this node's state whenever Redis lost it), and the watch that asks for a
// write-back when Redis comes back after an outage. After a write-back, and whenever the
// relay subscribes again (member events published meanwhile did not reach this node), the
// node's presence lists and watchlists are read again (ws.Server.ResyncPresence,
// ResyncWatchlists), after settle.
func (c *cluster) start(srv *ws.Server, rdb redis.UniversalClient) {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.srv = cancel, srv
	c.wg.Go(func() { c.runRelay(ctx, c.requestResync) })
	c.wg.Go(func() {
		if err := c.occupancy.Run(ctx, c.requestResync); err != nil {
			c.log.Error("lease stopped", "err", err)
		}
	})
	c.wg.Go(func() { c.watchRedis(ctx, rdb) })
	c.wg.Go(func() { c.resyncLoop(ctx, srv) })
}

// requestResync asks resyncLoop to read this node's presence lists again.
func (c *cluster) requestResync() {
	select {
	case c.resync <- struct{}{}:
	default:
	}
}

// resyncLoop reads this node's presence lists again settle after each request (requests
// made meanwhile are served by the same read), until ctx ends.
func (c *cluster) resyncLoop(ctx context.Context, srv *ws.Server) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.resync:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.settle):
		}
		select {
		case <-c.resync:
		default:
		}
		srv.ResyncPresence()
		srv.ResyncWatchlists()
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

// runRelay keeps the relay's subscription up until ctx ends, calling resubscribed each time
// Redis confirms it again after the first time. go-redis re-subscribes by itself after a
// lost connection; this loop covers a subscription that never started (Redis down when the
// node started).
func (c *cluster) runRelay(ctx context.Context, resubscribed func()) {
	first := true
	subscribed := func() {
		if !first {
			resubscribed()
		}
		first = false
	}
	for ctx.Err() == nil {
		err := c.relay.Run(ctx, subscribed)
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
// graceful stop before the sockets close; every node's clients are told the members that
// left (a user still connected through another node stays).
func (c *cluster) leave(ctx context.Context) {
	if c.srv == nil {
		return // never started
	}
	if err := c.occupancy.Leave(ctx); err != nil {
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
func (n localNode) TerminateUser(appID, userID string)    { n.srv.TerminateUser(appID, userID) }
func (n localNode) DeliverMember(ev registry.MemberEvent) { n.srv.DeliverMember(ev) }
func (n localNode) DeliverCount(ev registry.CountEvent)   { n.srv.DeliverCount(ev) }
func (n localNode) DeliverOnline(ev registry.OnlineEvent) { n.srv.DeliverOnline(ev) }

func newNodeID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
