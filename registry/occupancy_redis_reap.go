package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// reapBatch is how many entries (subscriptions, connections) of a node one reap or
// write-back script handles, so that a big node does not block Redis for long.
const reapBatch = 500

// Run holds this node's lease, reaps dead nodes and writes this node's state back whenever
// Redis lost it, until ctx ends; then it returns nil once its loops have stopped, leaving
// this node's state in place (a graceful stop removes it first with Leave). After a Leave,
// Run also drops the lease as it returns, so the node stops counting in LiveNodes at once;
// whatever state was written after the Leave is reaped by the other nodes.
//
// The lease is renewed every LeaseTTL/3 on a goroutine of its own, each renewal bounded by
// that interval, so a long reap (a big dead node, or an announcement waiting on Redis) never
// delays it. On its own ticker, also every LeaseTTL/3, Run reaps every node whose lease has
// expired: it removes that node's connections and subscriptions, and the scripts tell the
// member_removed of each presence user whose last connection on a channel was on the dead
// node, exactly once across the cluster, however many nodes reap at the same time.
//
// A renewal that finds this node's lease expired (other nodes may have reaped it) or its
// state marker gone (Redis restarted empty, failed over or was flushed while the node's
// connection stayed up), or that follows a write that failed, makes Run write the node's
// state back (see reassert), as does RequestReassert; written is called after each
// write-back that succeeded (nil: not called). Redis errors are logged and retried on the
// next tick.
func (o *RedisOccupancy) Run(ctx context.Context, written func()) error {
	o.renewOnce(ctx, true) // the lease comes first, so the node is listed before it reaps
	var wg sync.WaitGroup
	wg.Go(func() { o.holdLease(ctx) })
	wg.Go(func() { o.reassertLoop(ctx, written) })
	o.reapLoop(ctx)
	wg.Wait()
	if o.leaving.Load() {
		o.dropLease()
	}
	return nil
}

// dropLeaseTimeout bounds the deletion of a leaving node's lease.
const dropLeaseTimeout = 2 * time.Second

// dropLease deletes this node's lease; a failure leaves it to expire.
func (o *RedisOccupancy) dropLease() {
	ctx, cancel := context.WithTimeout(context.Background(), dropLeaseTimeout)
	defer cancel()
	if err := o.rdb.Del(ctx, o.prefix+":lease:"+o.node).Err(); err != nil {
		o.log.Warn("registry: this node's lease was not dropped; it expires by itself", "node", o.node, "err", err)
	}
}

// LiveNodes counts the nodes under prefix that hold a lease: the `reverbd start` processes
// of a deployment that are running, or that died less than a lease ago.
func LiveNodes(ctx context.Context, rdb redis.UniversalClient, prefix string) (int, error) {
	nodes, err := rdb.SMembers(ctx, prefix+":nodes").Result()
	if err != nil {
		return 0, fmt.Errorf("registry: list nodes: %w", err)
	}
	if len(nodes) == 0 {
		return 0, nil
	}
	keys := make([]string, len(nodes))
	for i, node := range nodes {
		keys[i] = prefix + ":lease:" + node
	}
	// The keys share the prefix's hash tag, so one EXISTS counts them in Redis Cluster too.
	n, err := rdb.Exists(ctx, keys...).Result()
	if err != nil {
		return 0, fmt.Errorf("registry: count leases: %w", err)
	}
	return int(n), nil
}

// reassertLoop writes this node's state back each time it is asked to, until ctx ends.
func (o *RedisOccupancy) reassertLoop(ctx context.Context, written func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.kick:
		}
		start := time.Now()
		st, err := o.reassert(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, errLeaving) {
				o.log.Warn("registry: writing this node's state back failed; retrying after the next lease renewal", "node", o.node, "err", err)
			}
			continue
		}
		if written != nil {
			written()
		}
		level := slog.LevelInfo
		if st == (reassertStats{}) {
			level = slog.LevelDebug // a new node, or nothing to write
		}
		o.log.Log(ctx, level, "registry: this node's state was written back", "node", o.node,
			"connections", st.sockets, "subscriptions", st.subscriptions,
			"members_added", st.added, "members_removed", st.removed, "took", time.Since(start).Round(time.Millisecond))
	}
}

// interval is how often the lease is renewed and dead nodes are looked for.
func (o *RedisOccupancy) interval() time.Duration { return max(o.ttl/3, time.Millisecond) }

// holdLease renews this node's lease every interval until ctx ends.
func (o *RedisOccupancy) holdLease(ctx context.Context) {
	t := time.NewTicker(o.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		o.renewOnce(ctx, false)
	}
}

// renewOnce renews the lease once, within one interval, and logs a failure.
func (o *RedisOccupancy) renewOnce(ctx context.Context, first bool) {
	rctx, cancel := context.WithTimeout(ctx, o.interval())
	defer cancel()
	err := o.renew(rctx, first)
	switch {
	case err == nil:
		o.renewed.Add(1)
	case ctx.Err() == nil:
		o.renewFailed.Add(1)
		o.log.Warn("registry: lease renewal failed", "node", o.node, "err", err)
	}
}

// reapLoop reaps dead nodes every interval until ctx ends.
func (o *RedisOccupancy) reapLoop(ctx context.Context) {
	t := time.NewTicker(o.interval())
	defer t.Stop()
	for {
		if err := o.reapDead(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("registry: reaping dead nodes failed", "node", o.node, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// renew extends this node's lease and lists the node. A missing state marker (Redis lost
// the node's state, or never had it: a node's first renewal), a lease that had expired since
// the last renewal (other nodes may have reaped the node's state) or a write that failed
// since asks for the state to be written back; the first two are logged, except on the
// first renewal.
func (o *RedisOccupancy) renew(ctx context.Context, first bool) error {
	var prev *redis.StatusCmd
	var list, marker *redis.IntCmd
	_, err := o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		prev = p.SetArgs(ctx, o.prefix+":lease:"+o.node, "1", redis.SetArgs{TTL: o.ttl, Get: true})
		list = p.SAdd(ctx, o.prefix+":nodes", o.node)
		marker = p.Exists(ctx, o.nodeKey("state"))
		return nil
	})
	if errors.Is(err, redis.Nil) {
		err = errors.Join(list.Err(), marker.Err()) // SET … GET of a missing key answers nil; checked below
	}
	if err != nil {
		return fmt.Errorf("registry: renew lease of node %s: %w", o.node, err)
	}
	if o.leaving.Load() {
		return nil // Leave removed the state on purpose
	}
	expired, lost := errors.Is(prev.Err(), redis.Nil) && !first, marker.Val() == 0
	if (expired || lost) && !first {
		o.log.Warn("registry: this node's state may be missing from Redis; writing it back", "node", o.node,
			"lease_expired", expired, "state_marker_missing", lost)
	}
	if expired || lost || o.book.isDirty() {
		o.RequestReassert()
	}
	return nil
}

// reapDead reaps every listed node but this one whose lease has expired.
func (o *RedisOccupancy) reapDead(ctx context.Context) error {
	nodes, err := o.rdb.SMembers(ctx, o.prefix+":nodes").Result()
	if err != nil {
		return fmt.Errorf("registry: list nodes: %w", err)
	}
	var errs []error
	for _, node := range nodes {
		if node != o.node {
			errs = append(errs, o.reap(ctx, node))
		}
	}
	return errors.Join(errs...)
}

// reap removes the state of node, batch by batch, if its lease has expired.
func (o *RedisOccupancy) reap(ctx context.Context, node string) error {
	return o.reapNode(ctx, node, false)
}

// Leave removes this node's connections and subscriptions from Redis at once, for a
// graceful stop: batch by batch, as a reap does, telling the member_removed of each presence
// user whose last connection on a channel was here. From then on the node's state is never
// written back; connections that close afterwards find nothing left to remove, and a write
// made meanwhile is removed as its connection closes.
func (o *RedisOccupancy) Leave(ctx context.Context) error {
	o.leaving.Store(true) // a write-back under way stops at its next batch
	o.repair.Lock()
	defer o.repair.Unlock()
	return o.reapNode(ctx, o.node, true)
}

// reapNode removes the state of node batch by batch; unless force is set, only while the
// node's lease has expired.
func (o *RedisOccupancy) reapNode(ctx context.Context, node string, force bool) error {
	// The signins go first: the reap below drops the node from the list once it is empty. A
	// node found alive there is left alone, even should its lease expire before the reap
	// below: that reap would drop the node from the list with its signins still recorded.
	if alive, err := o.reapNodeSignins(ctx, node, force); err != nil || alive {
		return err
	}
	forced := ""
	if force {
		forced = "1"
	}
	removed := 0
	for {
		args := o.hookApps(append([]any{node, o.batch, forced}, o.countedApps()...))
		res, err := o.run(ctx, reapScript, args...).Slice()
		if err != nil {
			return fmt.Errorf("registry: reap node %s: %w", node, err)
		}
		status, _ := res[0].(int64)
		removed += (len(res) - 1) / 3
		switch status {
		case 0: // alive
			return nil
		case 2:
			if force {
				o.log.Info("registry: this node's state was removed", "node", node, "members_removed", removed)
			} else {
				o.log.Info("registry: reaped a node whose lease expired", "node", node, "members_removed", removed)
			}
			return nil
		}
	}
}
