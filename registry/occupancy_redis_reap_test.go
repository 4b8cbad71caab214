package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A node keeps its lease while it reaps a big dead node whose reap scripts hang (Redis slow
// to answer them): renewal has a ticker of its own.
func TestRedisOccupancyRenewsWhileReaping(t *testing.T) {
	const ttl = 900 * time.Millisecond
	nodes, rdb, prefix := redisNodes(t, 2, ttl)
	dead, ctx := nodes[1], context.Background()
	const users = 20
	want := map[string]int{}
	for u := range users {
		id := fmt.Sprint(u)
		if _, err := dead.Subscribe(ctx, "app", "presence-room", "d."+id, &Member{UserID: id, RawID: json.RawMessage(id)}, 0); err != nil {
			t.Fatal(err)
		}
		want["app presence-room "+id] = 1
	}
	waitFor(t, "the dead node's lease to expire", func() bool {
		n, err := rdb.Exists(ctx, prefix+":lease:"+dead.node).Result()
		return err == nil && n == 0
	})

	// The live node's client holds its first script that names the dead node, as a Redis
	// that does not answer would.
	reaping, release := make(chan struct{}), make(chan struct{})
	client := redis.NewClient(rdb.Options())
	t.Cleanup(func() { _ = client.Close() })
	client.AddHook(holdScriptsNaming{node: dead.node, once: &sync.Once{}, reaping: reaping, release: release})
	live := NewRedisOccupancy(RedisOccupancyParams{Redis: client, Prefix: prefix, Relay: dead.relay, NodeID: "node-live", LeaseTTL: ttl})
	live.batch = 2 // many small batches
	gone := watchMembers(t, rdb, dead.relay)
	runNode(t, live, nil)
	<-reaping
	// Three lease lifetimes with the reap stuck: the lease must never lapse.
	lease := prefix + ":lease:" + live.node
	for end := time.Now().Add(3 * ttl); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if n, err := rdb.Exists(ctx, lease).Result(); err != nil || n != 1 {
			close(release)
			t.Fatalf("the live node's lease lapsed while it was reaping (exists=%d, err=%v)", n, err)
		}
	}
	close(release)
	waitFor(t, "the dead node to be reaped", func() bool { return gone.count() == users })
	if got := gone.snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("member events = %v, want each of the %d users gone once", diff(got, want), users)
	}
}

// holdScriptsNaming holds the first script call whose arguments name node until release.
type holdScriptsNaming struct {
	node             string
	once             *sync.Once
	reaping, release chan struct{}
}

func (h holdScriptsNaming) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h holdScriptsNaming) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h holdScriptsNaming) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); (name == "evalsha" || name == "eval") && slices.Contains(cmd.Args(), any(h.node)) {
			h.once.Do(func() {
				close(h.reaping)
				<-h.release
			})
		}
		return next(ctx, cmd)
	}
}

// LiveNodes counts the nodes holding a lease. A node that left drops its lease when its Run
// ends, so it stops counting at once; one that stops without leaving (it died) counts until
// its lease expires.
func TestLiveNodesAfterLeave(t *testing.T) {
	const ttl = 900 * time.Millisecond // renewed every 300 ms
	nodes, rdb, prefix := redisNodes(t, 3, ttl)
	ctx := context.Background()
	stops := make([]func(), len(nodes))
	for i, o := range nodes {
		stops[i] = runNode(t, o, nil)
	}
	live := func() int {
		t.Helper()
		n, err := LiveNodes(ctx, rdb, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor(t, "three live nodes", func() bool { return live() == 3 })
	if err := nodes[0].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	// The node still runs: its next renewal lists it again.
	waitFor(t, "the leaving node listed again", func() bool { return live() == 3 })
	stops[0]()
	if n := live(); n != 2 {
		t.Errorf("after the leaving node stopped: %d live nodes, want 2", n)
	}
	stops[1]() // no Leave: the lease stays until it expires
	if n := live(); n != 2 {
		t.Errorf("after a node stopped without leaving: %d live nodes, want 2 (its lease lasts %s)", n, ttl)
	}
	if n, err := LiveNodes(ctx, rdb, prefix+"-other"); err != nil || n != 0 {
		t.Errorf("another prefix: %d live nodes, %v; want 0", n, err)
	}
}
