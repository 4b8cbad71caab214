package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry/redistest"
)

// hookNode is a cluster node of the webhook tests: its occupancy deciding into its feed.
type hookNode struct {
	occ  *RedisOccupancy
	feed *RedisWebhookFeed
}

// hookNodes returns n nodes sharing one Redis and one prefix, with the apps of hookApps, the
// lease ttl (of the occupancy and of the feed) and the vacated delay given.
func hookNodes(t *testing.T, n int, ttl, delay time.Duration) ([]hookNode, *redis.Client, string) {
	t.Helper()
	rdb := redistest.Client(t)
	prefix := redisPrefix(t, rdb)
	apps := hookApps()
	nodes := make([]hookNode, n)
	for i := range nodes {
		id := fmt.Sprintf("node-%c", 'a'+i)
		feed := NewRedisWebhookFeed(RedisWebhookFeedParams{
			Redis: rdb, Prefix: prefix, NodeID: id, LeaseTTL: ttl, Wants: apps.WantsWebhook,
			VacatedDelay: delay, BatchWindow: 20 * time.Millisecond,
		})
		feed.retry = 20 * time.Millisecond
		nodes[i] = hookNode{feed: feed, occ: NewRedisOccupancy(RedisOccupancyParams{
			Redis: rdb, Prefix: prefix, Relay: prefix + ":relay", NodeID: id, LeaseTTL: ttl, Apps: apps, Webhooks: feed,
		})}
	}
	return nodes, rdb, prefix
}

// mark adds a client event named name to the app through feed and waits until r was handed
// it: every event decided before it was handed before it. It returns how many times each
// event of the app was handed out until then (see hookString).
func mark(t *testing.T, feed WebhookFeed, r *hookRecorder, appID, name string) map[string]int {
	t.Helper()
	ev := WebhookEvent{Name: config.WebhookClientEvent, Channel: "marker", Event: name, Data: "{}"}
	if err := feed.Add(context.Background(), appID, ev); err != nil {
		t.Fatal(err)
	}
	var got []string
	waitFor(t, "the marker "+name, func() bool {
		got = r.events(appID)
		return slices.Contains(got, hookString(ev))
	})
	out := map[string]int{}
	for _, s := range got[:slices.Index(got, hookString(ev))] {
		out[s]++
	}
	return out
}

// checkCounts fails unless got has each of want's events as many times (0: never).
func checkCounts(t *testing.T, when string, got map[string]int, want map[string]int) {
	t.Helper()
	for ev, n := range want {
		if got[ev] != n {
			t.Errorf("%s: %q handed out %d times, want %d (all: %v)", when, ev, got[ev], n, got)
		}
	}
}

// Two nodes subscribing to the same channels at once decide one channel_occupied per channel
// and one member_added per user; a reload within the vacated delay decides nothing; the last
// subscriber gone decides one channel_vacated per channel once the delay is over, and one
// member_removed.
func TestRedisWebhookOccupancy(t *testing.T) {
	const delay = 300 * time.Millisecond
	nodes, _, _ := hookNodes(t, 2, 900*time.Millisecond, delay)
	r := &hookRecorder{}
	for _, n := range nodes {
		runFeed(t, n.feed, r) // both run: one hands batches out
	}
	ctx := context.Background()
	const channels, perNode = 8, 3
	ada := &Member{UserID: "7", RawID: json.RawMessage(`7`)}
	race := func(do func(n hookNode, id string) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 2*perNode+2)
		for i, n := range nodes {
			for j := range perNode {
				wg.Go(func() { errs <- do(n, fmt.Sprintf("%d.%d", i, j)) })
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	race(func(n hookNode, socket string) error {
		for c := range channels {
			if _, err := n.occ.Subscribe(ctx, "app", fmt.Sprint("orders.", c), socket, nil, 0); err != nil {
				return err
			}
		}
		_, err := n.occ.Subscribe(ctx, "app", "presence-room", socket, ada, 0)
		return err
	})
	want := map[string]int{"channel_occupied presence-room": 1, "member_added presence-room 7": 1}
	for c := range channels {
		want[fmt.Sprint("channel_occupied orders.", c)] = 1
		want[fmt.Sprint("channel_vacated orders.", c)] = 0
	}
	checkCounts(t, "after the racing subscribes", mark(t, nodes[1].feed, r, "app", "client-1"), want)

	// A reload: every subscriber of the orders channels leaves, one comes back at once.
	race(func(n hookNode, socket string) error {
		for c := range channels {
			if _, _, err := n.occ.Unsubscribe(ctx, "app", fmt.Sprint("orders.", c), socket); err != nil {
				return err
			}
		}
		return nil
	})
	for c := range channels {
		mustSubscribe(t, nodes[c%2].occ, "app", fmt.Sprint("orders.", c), "9.9", nil, false)
	}
	time.Sleep(2 * delay)
	checkCounts(t, "after a reload", mark(t, nodes[0].feed, r, "app", "client-2"), want)

	race(func(n hookNode, socket string) error {
		_, _, err := n.occ.Unsubscribe(ctx, "app", "presence-room", socket)
		return err
	})
	for c := range channels {
		mustUnsubscribe(t, nodes[c%2].occ, "app", fmt.Sprint("orders.", c), "9.9", "", false)
	}
	time.Sleep(2 * delay)
	want["member_removed presence-room 7"] = 1
	want["channel_vacated presence-room"] = 1
	for c := range channels {
		want[fmt.Sprint("channel_vacated orders.", c)] = 1
	}
	checkCounts(t, "after every subscriber left", mark(t, nodes[0].feed, r, "app", "client-3"), want)
}

// A node whose lease expired is reaped: each user whose last connection on a channel was
// there is removed once (member_removed), and its channels left empty are vacated once. A
// node leaving (Leave) decides the same.
func TestRedisWebhookReaped(t *testing.T) {
	const ttl = 600 * time.Millisecond
	nodes, rdb, prefix := hookNodes(t, 2, ttl, 100*time.Millisecond)
	live, dead, ctx := nodes[0], nodes[1], context.Background()
	ada, lin := &Member{UserID: "7", RawID: json.RawMessage(`7`)}, &Member{UserID: "9", RawID: json.RawMessage(`9`)}
	mustSubscribe(t, live.occ, "app", "presence-room", "a.1", ada, true)
	mustSubscribe(t, dead.occ, "app", "presence-room", "b.1", ada, false)
	mustSubscribe(t, dead.occ, "app", "presence-room", "b.2", lin, true)
	mustSubscribe(t, dead.occ, "app", "orders", "b.1", nil, false)
	r := &hookRecorder{}
	runFeed(t, live.feed, r)
	stop := runNode(t, live.occ, nil)
	waitFor(t, "the dead node to be reaped", func() bool {
		n, err := rdb.SIsMember(ctx, prefix+":nodes", dead.occ.node).Result()
		return err == nil && !n
	})
	time.Sleep(300 * time.Millisecond) // the vacated delay and a poll
	checkCounts(t, "after the reap", mark(t, live.feed, r, "app", "client-1"), map[string]int{
		"member_added presence-room 7": 1, "member_added presence-room 9": 1,
		"member_removed presence-room 9": 1, "member_removed presence-room 7": 0,
		"channel_occupied orders": 1, "channel_vacated orders": 1, "channel_vacated presence-room": 0,
	})

	if err := live.occ.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	time.Sleep(300 * time.Millisecond)
	checkCounts(t, "after the last node left", mark(t, live.feed, r, "app", "client-2"), map[string]int{
		"member_removed presence-room 9": 1, "member_removed presence-room 7": 1,
		"channel_vacated orders": 1, "channel_vacated presence-room": 1,
	})
}

// A node writing its state back after Redis lost it decides the events of what it adds
// back (Redis lost those it had decided before too), and of what it removes that it no
// longer holds.
func TestRedisWebhookWriteBack(t *testing.T) {
	nodes, rdb, prefix := hookNodes(t, 1, time.Second, 50*time.Millisecond)
	n, ctx := nodes[0], context.Background()
	ada := &Member{UserID: "7", RawID: json.RawMessage(`7`)}
	mustSubscribe(t, n.occ, "app", "presence-room", "1.1", ada, true)
	mustSubscribe(t, n.occ, "app", "orders", "1.1", nil, false)
	deleteKeys(t, rdb, prefix) // as a Redis restarted empty
	if _, err := n.occ.reassert(ctx); err != nil {
		t.Fatal(err)
	}
	r := &hookRecorder{}
	runFeed(t, n.feed, r)
	checkCounts(t, "after the write-back", mark(t, n.feed, r, "app", "client-1"), map[string]int{
		"channel_occupied presence-room": 1, "member_added presence-room 7": 1, "channel_occupied orders": 1,
	})

	// The node forgot a subscription Redis still has (its unsubscribe failed): the
	// write-back removes it.
	n.occ.book.unsubscribe("app", "presence-room", "1.1")
	if _, err := n.occ.reassert(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	checkCounts(t, "after the write-back removed a subscription", mark(t, n.feed, r, "app", "client-2"), map[string]int{
		"member_removed presence-room 7": 1, "channel_vacated presence-room": 1, "channel_vacated orders": 0,
	})
}

// deleteKeys deletes every key under prefix.
func deleteKeys(t *testing.T, rdb *redis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// The subscription count of a channel is told at once after a change, then at most once a
// second: the latest count, decided once for the cluster. Presence channels have none.
func TestRedisWebhookCountCoalesced(t *testing.T) {
	nodes, _, _ := hookNodes(t, 2, time.Second, 50*time.Millisecond)
	a, b := nodes[0].occ, nodes[1].occ
	r := &hookRecorder{}
	runFeed(t, nodes[0].feed, r)
	runFeed(t, nodes[1].feed, r)
	mustSubscribe(t, a, "app", "orders", "a.1", nil, false) // 1, told at once
	mustSubscribe(t, b, "app", "orders", "b.1", nil, false) // 2
	mustSubscribe(t, a, "app", "orders", "a.2", nil, false) // 3
	mustUnsubscribe(t, b, "app", "orders", "b.1", "", false)
	mustSubscribe(t, a, "app", "presence-room", "a.1", &Member{UserID: "7", RawID: json.RawMessage(`7`)}, true)
	time.Sleep(1500 * time.Millisecond)
	got := mark(t, nodes[1].feed, r, "app", "client-1")
	checkCounts(t, "a second and a half later", got, map[string]int{
		"subscription_count orders =1": 1, "subscription_count orders =2": 1, "subscription_count orders =3": 0,
		"subscription_count presence-room =1": 0,
	})
	var counts []string
	for _, ev := range r.events("app") {
		if strings.HasPrefix(ev, "subscription_count") {
			counts = append(counts, ev)
		}
	}
	if want := []string{"subscription_count orders =1", "subscription_count orders =2"}; !slices.Equal(counts, want) {
		t.Errorf("counts told %q, want %q", counts, want)
	}
}

// An app without webhooks, or whose webhooks take none of a node's decisions, costs no key
// of the feed, whatever happens to its channels (subscribes, unsubscribes, a reap, a
// write-back), and Add keeps nothing of it.
func TestRedisWebhookUnwanted(t *testing.T) {
	nodes, rdb, prefix := hookNodes(t, 2, 600*time.Millisecond, 10*time.Millisecond)
	a, dead, ctx := nodes[0], nodes[1], context.Background()
	ada := &Member{UserID: "7", RawID: json.RawMessage(`7`)}
	for _, app := range []string{"quiet", "members"} {
		mustSubscribe(t, a.occ, app, "orders", "a.1", nil, false)
		mustSubscribe(t, dead.occ, app, "orders", "b.1", nil, false)
		mustUnsubscribe(t, a.occ, app, "orders", "a.1", "", false)
		if err := a.feed.Add(ctx, app, WebhookEvent{Name: config.WebhookClientEvent, Channel: "private-x", Event: "client-a", Data: "{}"}); err != nil {
			t.Fatal(err)
		}
	}
	mustSubscribe(t, a.occ, "quiet", "presence-room", "a.1", ada, true)
	mustSubscribe(t, dead.occ, "quiet", "presence-room", "b.1", ada, false)
	if _, err := a.occ.reassert(ctx); err != nil {
		t.Fatal(err)
	}
	stop := runNode(t, a.occ, nil)
	waitFor(t, "the dead node to be reaped", func() bool {
		n, err := rdb.SIsMember(ctx, prefix+":nodes", dead.occ.node).Result()
		return err == nil && !n
	})
	stop()
	mustUnsubscribe(t, a.occ, "quiet", "presence-room", "a.1", "7", true)
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, ":wh") {
			t.Errorf("key %q written for apps that take none of its events", k)
		}
	}
}

// A batch whose send failed is handed out again with the same ID, TimeMS and events, and
// the app's next batches wait for it.
func TestRedisWebhookBatchRetried(t *testing.T) {
	nodes, _, _ := hookNodes(t, 1, time.Second, time.Second)
	feed := nodes[0].feed
	feed.size, feed.window = 2, time.Hour
	addClientEvents(t, feed, "client-a", "client-b", "client-c", "client-d")
	r := &hookRecorder{fail: errors.New("endpoint down")}
	runFeed(t, feed, r)
	waitHanded(t, r, 3)
	r.setFail(nil)
	waitEventsHanded(t, r, 4)
	checkRetried(t, r.handed(), 3)
}

func addClientEvents(t *testing.T, feed WebhookFeed, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := feed.Add(context.Background(), "app", WebhookEvent{Name: config.WebhookClientEvent, Channel: "private-x", Event: name, Data: "{}"}); err != nil {
			t.Fatal(err)
		}
	}
}

// One node at a time hands batches out. A node takes the lease over once the holder's
// expired (the holder died); when the holder stops, another node takes over and hands the
// remaining batches out, the one the stopped node had not done first, unchanged.
func TestRedisWebhookTakeover(t *testing.T) {
	const ttl = 600 * time.Millisecond
	nodes, rdb, prefix := hookNodes(t, 2, ttl, time.Second)
	ctx := context.Background()
	for _, n := range nodes {
		n.feed.size, n.feed.window = 2, time.Hour
	}
	// A holder that died: its lease is left to expire.
	if err := rdb.Set(ctx, prefix+":wh:lease", "node-dead", ttl).Err(); err != nil {
		t.Fatal(err)
	}
	addClientEvents(t, nodes[0].feed, "client-a", "client-b", "client-c", "client-d")
	first := &hookRecorder{fail: errors.New("endpoint down")}
	stopFirst := runFeedStoppable(t, nodes[0].feed, first)
	waitHanded(t, first, 1)
	if lease, err := rdb.Get(ctx, prefix+":wh:lease").Result(); err != nil || lease != "node-a" {
		t.Fatalf("lease held by %q, %v; want node-a", lease, err)
	}

	second := &hookRecorder{}
	runFeed(t, nodes[1].feed, second)
	time.Sleep(ttl) // two renewals: the second node does not take the lease of a live one
	if got := second.handed(); len(got) != 0 {
		t.Fatalf("a node that does not hold the lease handed out %+v", got)
	}
	stopFirst()
	waitEventsHanded(t, second, 4)
	got := second.handed()
	if failed := first.handed()[0]; !reflect.DeepEqual(got[0], failed) {
		t.Errorf("the new holder handed out %+v first, want the batch not done %+v", got[0], failed)
	}
	checkRetried(t, got, 1)
}

// runFeedStoppable runs feed with r until stop is called or the test ends.
func runFeedStoppable(t *testing.T, feed WebhookFeed, r *hookRecorder) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx, r.send) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
