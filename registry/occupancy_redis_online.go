package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Signed-in users in Redis (see OnlineEvent). Keys, besides those of RedisOccupancy:
//
//	P:app:{app}:signins         hash socket → node "\x00" user id: the signed-in connections
//	P:app:{app}:online          hash user id → signed-in connections, every node's
//	P:app:{app}:oseq            the number of the app's last online event
//	P:node:{node}:signins       set of "app\x00socket": the node's signed-in connections
//
// The scripts that change them decide online and offline once for the cluster and publish
// them on the relay's channel as "online" and "offline" messages. A dead node's signins are
// reaped, and a node's own written back, as its subscriptions are, by scripts of their own
// run next to reap and reassert.

var (
	signinScript          = onlineScript("signin")
	signoutScript         = onlineScript("signout")
	reapSigninsScript     = onlineScript("reap_signins")
	reassertSigninsScript = onlineScript("reassert_signins")
	watchedScript         = onlineScript("watched")
)

// onlineScript is the script occupancy_lua/{name}.lua preceded by the shared helpers and
// those of the signin scripts.
func onlineScript(name string) *redis.Script { return occupancyScript(name, "online") }

// SignIn implements Occupancy; online is decided across the cluster, and the watchlist's
// state comes from the same script. A SignIn that fails may still have been recorded: the
// node's record keeps the signin all the same, and it is written back.
func (o *RedisOccupancy) SignIn(ctx context.Context, appID, socketID, userID string, watchlist []string) (Watched, error) {
	args := make([]any, 0, 5+len(watchlist))
	args = append(args, o.node, appID, socketID, userID, o.ttlMillis())
	for _, id := range watchlist {
		args = append(args, id)
	}
	o.writes.RLock()
	defer o.writes.RUnlock()
	o.book.signin(appID, socketID, userID)
	res, err := o.call(ctx, signinScript, args...).StringSlice()
	if err != nil {
		o.book.failed()
		return Watched{}, fmt.Errorf("registry: signin to app %s: %w", appID, err)
	}
	w, err := watchedOf(res)
	if err != nil {
		return Watched{}, fmt.Errorf("registry: signin to app %s: %w", appID, err)
	}
	return w, nil
}

// Watched implements OnlineReader: the users online on every node.
func (o *RedisOccupancy) Watched(ctx context.Context, appID string, users []string) (Watched, error) {
	args := make([]any, 0, 1+len(users))
	args = append(args, appID)
	for _, id := range users {
		args = append(args, id)
	}
	res, err := o.call(ctx, watchedScript, args...).StringSlice()
	if err == nil {
		var w Watched
		if w, err = watchedOf(res); err == nil {
			return w, nil
		}
	}
	return Watched{}, fmt.Errorf("registry: online users of app %s: %w", appID, err)
}

// watchedOf reads a script's {seq, user ids...} reply.
func watchedOf(res []string) (Watched, error) {
	if len(res) == 0 {
		return Watched{}, fmt.Errorf("registry: empty online users reply")
	}
	seq, err := strconv.ParseUint(res[0], 10, 64)
	if err != nil {
		return Watched{}, fmt.Errorf("registry: online sequence %q: %w", res[0], err)
	}
	return Watched{Online: res[1:], Seq: seq}, nil
}

// SignOut implements Occupancy; offline is decided across the cluster. When it fails, the
// node's record forgets the signin all the same, and Redis is made to agree once the node's
// state is written back (which tells the offline then, if it is due).
func (o *RedisOccupancy) SignOut(ctx context.Context, appID, socketID string) error {
	o.writes.RLock()
	defer o.writes.RUnlock()
	o.book.signout(appID, socketID)
	if err := o.call(ctx, signoutScript, o.node, appID, socketID).Err(); err != nil {
		o.book.failed()
		return fmt.Errorf("registry: sign out of app %s: %w", appID, err)
	}
	return nil
}

// reapSignins removes the signins of node batch by batch; unless force is set, only while the
// node's lease has expired. It returns how many users it told offline, and alive when it
// found the node holding a lease (nothing more was removed).
func (o *RedisOccupancy) reapSignins(ctx context.Context, node string, force bool) (offline int, alive bool, err error) {
	forced := ""
	if force {
		forced = "1"
	}
	for {
		res, err := o.run(ctx, reapSigninsScript, node, o.batch, forced).Int64Slice()
		if err != nil {
			return offline, false, fmt.Errorf("registry: reap signins of node %s: %w", node, err)
		}
		offline += int(res[1])
		if res[0] != 1 {
			return offline, res[0] == 0, nil
		}
	}
}

// reassertSignins writes this node's signins back, batch by batch, each under the write
// barrier, then removes those Redis holds for the node and the record does not. It returns
// how many online and offline events it told.
func (o *RedisOccupancy) reassertSignins(ctx context.Context) (int, error) {
	told := 0
	signins := o.book.signins()
	for len(signins) > 0 {
		if o.leaving.Load() {
			return told, errLeaving
		}
		n := min(len(signins), o.batch)
		t, err := o.reassertSigninBatch(ctx, signins[:n])
		if err != nil {
			return told, err
		}
		told += t
		signins = signins[n:]
	}
	key := o.nodeKey("signins")
	var cursor uint64
	for {
		items, next, err := o.rdb.SScan(ctx, key, cursor, "", int64(o.batch)).Result()
		if err != nil {
			return told, fmt.Errorf("registry: reassert node %s: scan signins: %w", o.node, err)
		}
		t, err := o.removeStaleSignins(ctx, items)
		if err != nil {
			return told, err
		}
		told += t
		if next == 0 {
			return told, nil
		}
		cursor = next
	}
}

// reassertSigninBatch writes back signins whose record the book still holds.
func (o *RedisOccupancy) reassertSigninBatch(ctx context.Context, signins []bookSignin) (int, error) {
	o.writes.Lock()
	defer o.writes.Unlock()
	args := []any{o.node, o.ttlMillis()}
	for _, s := range signins {
		if o.book.signedIn(s.app, s.socket) == s.user {
			args = append(args, s.app, s.socket, s.user)
		}
	}
	bctx, cancel := context.WithTimeout(ctx, reassertBatchTimeout)
	defer cancel()
	n, err := o.run(bctx, reassertSigninsScript, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("registry: reassert signins of node %s: %w", o.node, err)
	}
	return n, nil
}

// removeStaleSignins removes the items of the node's signins set that the book does not
// hold, under the write barrier, so a signin made meanwhile is kept.
func (o *RedisOccupancy) removeStaleSignins(ctx context.Context, items []string) (int, error) {
	o.writes.Lock()
	defer o.writes.Unlock()
	args := []any{o.node}
	for _, item := range items {
		app, socket, ok := strings.Cut(item, "\x00")
		if ok && o.book.signedIn(app, socket) == "" {
			args = append(args, app, socket)
		}
	}
	if len(args) == 1 {
		return 0, nil
	}
	bctx, cancel := context.WithTimeout(ctx, reassertBatchTimeout)
	defer cancel()
	n, err := o.run(bctx, signoutScript, args...).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("registry: reassert node %s: remove stale signins: %w", o.node, err)
	}
	return n, nil
}

// reapNodeSignins is reapSignins, logging the users it told offline.
func (o *RedisOccupancy) reapNodeSignins(ctx context.Context, node string, force bool) (alive bool, err error) {
	offline, alive, err := o.reapSignins(ctx, node, force)
	if offline > 0 {
		o.log.Info("registry: users signed in on a node that left went offline", "node", node, "users_offline", offline)
	}
	return alive, err
}

// reassertNodeSignins is reassertSignins, logging the online events it told.
func (o *RedisOccupancy) reassertNodeSignins(ctx context.Context) error {
	told, err := o.reassertSignins(ctx)
	if told > 0 {
		o.log.Info("registry: this node's signins were written back", "node", o.node, "online_changes", told)
	}
	return err
}
