package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	reassertScript       = occupancyScript("reassert")
	reassertRemoveScript = occupancyScript("reassert_remove")
)

// reassertBatchTimeout bounds one batch of a write-back: the node's own writes wait for it.
const reassertBatchTimeout = 2 * time.Second

// errLeaving ends a write-back when the node leaves the cluster (Leave).
var errLeaving = errors.New("registry: the node is leaving")

// RequestReassert asks Run to write this node's state back into Redis (see reassert), for
// instance when Redis answers again after an outage. Requests made while one is pending
// coalesce.
func (o *RedisOccupancy) RequestReassert() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// reassertStats describes one write-back, for the log.
type reassertStats struct {
	sockets, subscriptions, added, removed int
}

// reassert makes Redis hold exactly this node's record of its connections and
// subscriptions, after Redis lost or missed some of them (a restart, a failover, a FLUSHALL,
// a reap while the node was paused, a write that failed). The scripts tell every member
// change they make (a user added back whose first connection on the channel this is, a user
// whose last connection they remove), so clients' member lists converge too.
//
// It works in batches of o.batch entries, each one short Lua script, so Redis stays
// responsive however big the node. Each batch holds the write barrier, so the node's own
// subscribes and unsubscribes run between batches, never inside one: a batch writes what the
// record holds at that instant, and a write after it reaches Redis itself.
//
// First the calls queued before it are let through (see scriptBatcher) and the node's
// state marker is set, so a loss during the write-back is noticed again;
// then the record is written; then what Redis holds for the node beyond the record is
// removed. A failure leaves the node marked dirty: the next lease renewal tries again.
func (o *RedisOccupancy) reassert(ctx context.Context) (st reassertStats, err error) {
	o.repair.Lock()
	defer o.repair.Unlock()
	if o.leaving.Load() {
		return st, errLeaving
	}
	keys, undo := o.book.begin()
	defer func() {
		if err != nil {
			undo()
		}
	}()
	// A call whose caller stopped waiting may still be queued or in flight (see
	// scriptBatcher): it reaches Redis before the write-back reads or corrects anything. One
	// abandoned after this point marks the record dirty again, for the next write-back.
	if err := o.calls.wait(ctx); err != nil {
		return st, fmt.Errorf("registry: reassert node %s: %w", o.node, err)
	}
	if err := o.rdb.Set(ctx, o.nodeKey("state"), "1", 0).Err(); err != nil {
		return st, fmt.Errorf("registry: reassert node %s: %w", o.node, err)
	}
	for len(keys) > 0 {
		if o.leaving.Load() {
			return st, errLeaving
		}
		if keys, err = o.reassertBatch(ctx, keys, &st); err != nil {
			return st, err
		}
	}
	for _, set := range []string{"socks", "sockets"} {
		if err := o.removeStale(ctx, set, &st); err != nil {
			return st, err
		}
	}
	if err := o.reassertNodeSignins(ctx); err != nil {
		return st, err
	}
	return st, nil
}

func (o *RedisOccupancy) nodeKey(suffix string) string {
	return o.prefix + ":node:" + o.node + ":" + suffix
}

// reassertBatch writes the record of the first sockets of keys, up to o.batch entries, and
// returns the keys left.
func (o *RedisOccupancy) reassertBatch(ctx context.Context, keys []bookKey, st *reassertStats) ([]bookKey, error) {
	o.writes.Lock()
	defer o.writes.Unlock()
	args := o.hookApps(append([]any{o.node, o.ttlMillis()}, o.countedApps()...))
	for n := 0; len(keys) > 0 && n < o.batch; keys = keys[1:] {
		k := keys[0]
		s := o.book.lookup(k)
		connected := ""
		if s.connected {
			connected = "1"
			st.sockets++
		}
		args = append(args, k.app, k.socket, connected, len(s.subs))
		for _, sub := range s.subs {
			if sub.member == nil {
				args = append(args, sub.channel, "", "", "")
				continue
			}
			b, err := encodeMember(*sub.member)
			if err != nil {
				return nil, err
			}
			args = append(args, sub.channel, "1", sub.member.UserID, b)
		}
		st.subscriptions += len(s.subs)
		n += 1 + len(s.subs)
	}
	bctx, cancel := context.WithTimeout(ctx, reassertBatchTimeout)
	defer cancel()
	res, err := o.run(bctx, reassertScript, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("registry: reassert node %s: %w", o.node, err)
	}
	for i := 0; i+4 < len(res); i += 5 {
		if res[i] == "+" {
			st.added++
		} else {
			st.removed++
		}
	}
	return keys, nil
}

// removeStale removes what the node's set ("socks": subscriptions, "sockets": connections)
// lists in Redis and the node's record does not hold, batch by batch.
func (o *RedisOccupancy) removeStale(ctx context.Context, set string, st *reassertStats) error {
	key := o.nodeKey(set)
	var cursor uint64
	for {
		items, next, err := o.rdb.SScan(ctx, key, cursor, "", int64(o.batch)).Result()
		if err != nil {
			return fmt.Errorf("registry: reassert node %s: scan %s: %w", o.node, set, err)
		}
		removed, err := o.removeItems(ctx, set, items)
		if err != nil {
			return err
		}
		st.removed += removed
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// removeItems removes the items of the node's set that the record does not hold, under the
// write barrier, so an item subscribed meanwhile is kept. It returns how many presence users
// it removed.
func (o *RedisOccupancy) removeItems(ctx context.Context, set string, items []string) (int, error) {
	o.writes.Lock()
	defer o.writes.Unlock()
	args := o.hookApps(append([]any{o.node}, o.countedApps()...))
	none := len(args)
	for _, item := range items {
		parts := strings.Split(item, "\x00")
		switch {
		case set == "sockets" && len(parts) == 2:
			if !o.book.hasConn(parts[0], parts[1]) {
				args = append(args, "c", item)
			}
		case set == "socks" && len(parts) == 3:
			if !o.book.hasSub(parts[0], parts[1], parts[2]) {
				args = append(args, "s", item)
			}
		}
	}
	if len(args) == none {
		return 0, nil
	}
	bctx, cancel := context.WithTimeout(ctx, reassertBatchTimeout)
	defer cancel()
	res, err := o.run(bctx, reassertRemoveScript, args...).StringSlice()
	if err != nil {
		return 0, fmt.Errorf("registry: reassert node %s: remove stale entries: %w", o.node, err)
	}
	return len(res) / 3, nil
}
