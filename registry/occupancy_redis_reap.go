package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// reapBatch is how many subscriptions of a dead node one reap script removes, so that a big
// node does not block Redis for long.
const reapBatch = 500

// Run holds this node's lease and reaps dead nodes until ctx ends, then returns nil once
// both loops have stopped, leaving this node's state in place (a graceful stop unsubscribes
// connections one by one).
//
// The lease is renewed every LeaseTTL/3 on a goroutine of its own, each renewal bounded by
// that interval, so a long reap (a big dead node, or a gone callback waiting on Redis) never
// delays it. On its own ticker, also every LeaseTTL/3, Run reaps every node whose lease has
// expired: it removes that node's connections and subscriptions and calls gone(appID,
// channel, userID) for each presence user whose last connection on a channel was on the dead
// node, exactly once across the cluster, however many nodes reap at the same time. Redis
// errors are logged and retried on the next tick.
func (o *RedisOccupancy) Run(ctx context.Context, gone func(appID, channel, userID string)) error {
	o.renewOnce(ctx, true) // the lease comes first, so the node is listed before it reaps
	var wg sync.WaitGroup
	wg.Go(func() { o.holdLease(ctx) })
	o.reapLoop(ctx, gone)
	wg.Wait()
	return nil
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
	if err := o.renew(rctx, first); err != nil && ctx.Err() == nil {
		o.log.Warn("registry: lease renewal failed", "node", o.node, "err", err)
	}
}

// reapLoop reaps dead nodes every interval until ctx ends.
func (o *RedisOccupancy) reapLoop(ctx context.Context, gone func(appID, channel, userID string)) {
	t := time.NewTicker(o.interval())
	defer t.Stop()
	for {
		if err := o.reapDead(ctx, gone); err != nil && ctx.Err() == nil {
			o.log.Warn("registry: reaping dead nodes failed", "node", o.node, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// renew extends this node's lease and lists the node. A lease that had expired since the
// last renewal means other nodes may have reaped this node's state; that is logged.
func (o *RedisOccupancy) renew(ctx context.Context, first bool) error {
	var prev *redis.StatusCmd
	var list *redis.IntCmd
	_, err := o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		prev = p.SetArgs(ctx, o.prefix+":lease:"+o.node, "1", redis.SetArgs{TTL: o.ttl, Get: true})
		list = p.SAdd(ctx, o.prefix+":nodes", o.node)
		return nil
	})
	if errors.Is(err, redis.Nil) {
		err = list.Err() // SET … GET of a missing key answers nil; checked below
	}
	if err != nil {
		return fmt.Errorf("registry: renew lease of node %s: %w", o.node, err)
	}
	if errors.Is(prev.Err(), redis.Nil) && !first {
		o.log.Warn("registry: this node's lease had expired; other nodes may have reaped its state", "node", o.node)
	}
	return nil
}

// reapDead reaps every listed node but this one whose lease has expired.
func (o *RedisOccupancy) reapDead(ctx context.Context, gone func(appID, channel, userID string)) error {
	nodes, err := o.rdb.SMembers(ctx, o.prefix+":nodes").Result()
	if err != nil {
		return fmt.Errorf("registry: list nodes: %w", err)
	}
	var errs []error
	for _, node := range nodes {
		if node != o.node {
			errs = append(errs, o.reap(ctx, node, gone))
		}
	}
	return errors.Join(errs...)
}

// reap removes the state of node, batch by batch, if its lease has expired.
func (o *RedisOccupancy) reap(ctx context.Context, node string, gone func(appID, channel, userID string)) error {
	removed := 0
	for {
		res, err := o.run(ctx, reapScript, node, o.batch).Slice()
		if err != nil {
			return fmt.Errorf("registry: reap node %s: %w", node, err)
		}
		status, _ := res[0].(int64)
		for i := 1; i+2 < len(res); i += 3 {
			app, _ := res[i].(string)
			channel, _ := res[i+1].(string)
			user, _ := res[i+2].(string)
			removed++
			if gone != nil {
				gone(app, channel, user)
			}
		}
		switch status {
		case 0: // alive
			return nil
		case 2:
			o.log.Info("registry: reaped a node whose lease expired", "node", node, "members_removed", removed)
			return nil
		}
	}
}
