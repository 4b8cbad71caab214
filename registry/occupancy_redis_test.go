package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/registry/redistest"
)

// redisPrefix returns a key prefix of its own for the test and deletes its keys afterwards.
func redisPrefix(t *testing.T, rdb *redis.Client) string {
	t.Helper()
	prefix := redistest.Name(t)
	t.Cleanup(func() {
		ctx := context.Background()
		glob := strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`).Replace(prefix)
		iter := rdb.Scan(ctx, 0, glob+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return prefix
}

// redisNodes returns n RedisOccupancy nodes sharing one Redis and one prefix.
func redisNodes(t *testing.T, n int, ttl time.Duration) ([]*RedisOccupancy, *redis.Client, string) {
	t.Helper()
	rdb := redistest.Client(t)
	prefix := redisPrefix(t, rdb)
	nodes := make([]*RedisOccupancy, n)
	for i := range nodes {
		nodes[i] = NewRedisOccupancy(RedisOccupancyParams{
			Redis: rdb, Prefix: prefix, Relay: prefix + ":relay", NodeID: fmt.Sprintf("node-%c", 'a'+i), LeaseTTL: ttl,
		})
	}
	return nodes, rdb, prefix
}

// occupancies builds each Occupancy implementation for the shared behaviour tests.
var occupancies = map[string]func(t *testing.T) Occupancy{
	"memory": func(*testing.T) Occupancy { return NewMemoryOccupancy() },
	"redis": func(t *testing.T) Occupancy {
		nodes, _, _ := redisNodes(t, 1, 0)
		return nodes[0]
	},
}

func forEachOccupancy(t *testing.T, test func(t *testing.T, o Occupancy)) {
	for _, name := range slices.Sorted(maps.Keys(occupancies)) {
		t.Run(name, func(t *testing.T) { test(t, occupancies[name](t)) })
	}
}

func mustSubscribe(t *testing.T, o Occupancy, app, channel, socket string, m *Member, want bool) {
	t.Helper()
	sub, err := o.Subscribe(context.Background(), app, channel, socket, m, 0)
	if err != nil || sub.First != want {
		t.Fatalf("Subscribe(%s, %s, %s) = %v, %v; want first=%v", app, channel, socket, sub.First, err, want)
	}
}

func mustUnsubscribe(t *testing.T, o Occupancy, app, channel, socket, wantUser string, wantLast bool) {
	t.Helper()
	user, last, err := o.Unsubscribe(context.Background(), app, channel, socket)
	if err != nil || user != wantUser || last != wantLast {
		t.Fatalf("Unsubscribe(%s, %s, %s) = %q, %v, %v; want %q, %v", app, channel, socket, user, last, err, wantUser, wantLast)
	}
}

func TestOccupancyPresence(t *testing.T) {
	forEachOccupancy(t, func(t *testing.T, o Occupancy) {
		ctx := context.Background()
		ada := &Member{UserID: "7", RawID: json.RawMessage(`"7"`), Info: json.RawMessage(`{"name": "Ada"}`)}
		lin := &Member{UserID: "9", RawID: json.RawMessage(`9`)}
		mustSubscribe(t, o, "app", "presence-room", "1.1", ada, true)
		mustSubscribe(t, o, "app", "presence-room", "1.2", ada, false)
		mustSubscribe(t, o, "app", "presence-room", "2.1", lin, true)
		mustSubscribe(t, o, "app", "presence-room", "2.1", lin, false) // already subscribed
		if info, err := o.Channel(ctx, "app", "presence-room"); err != nil || info != (ChannelInfo{SubscriptionCount: 3, UserCount: 2}) {
			t.Errorf("Channel = %+v, %v", info, err)
		}
		members, err := o.Members(ctx, "app", "presence-room")
		if err != nil || !reflect.DeepEqual(members.Members, []Member{*ada, *lin}) {
			t.Errorf("Members = %+v, %v", members, err)
		}
		// Two member events so far (7 and 9 joined), numbered one after the other; a
		// subscribe's list has the number of the last event it includes.
		again, err := o.Subscribe(ctx, "app", "presence-room", "1.3", ada, 0)
		if err != nil || again.First || again.Presence.Seq != members.Seq || !reflect.DeepEqual(again.Presence.Members, members.Members) {
			t.Errorf("Subscribe of a third connection = %+v, %v; want the list %+v", again, err, members)
		}
		mustUnsubscribe(t, o, "app", "presence-room", "1.3", "7", false)
		mustUnsubscribe(t, o, "app", "presence-room", "1.1", "7", false)
		mustUnsubscribe(t, o, "app", "presence-room", "1.2", "7", true)
		mustUnsubscribe(t, o, "app", "presence-room", "9.9", "", false) // unknown socket
		mustUnsubscribe(t, o, "app", "presence-nope", "2.1", "", false) // unknown channel
		mustUnsubscribe(t, o, "app", "presence-room", "2.1", "9", true)
		if all, err := o.Channels(ctx, "app", ""); err != nil || len(all) != 0 {
			t.Errorf("vacated channel still listed: %v, %v", all, err)
		}
		if p, err := o.Members(ctx, "app", "presence-room"); err != nil || len(p.Members) != 0 {
			t.Errorf("members of a vacated channel: %v, %v", p.Members, err)
		}
	})
}

func TestOccupancyChannelsAndQuota(t *testing.T) {
	forEachOccupancy(t, func(t *testing.T, o Occupancy) {
		ctx := context.Background()
		for _, ch := range []string{"orders", "presence-a", "presence-b", "private-x:y:socks"} {
			mustSubscribe(t, o, "app", ch, "1.1", nil, false)
		}
		mustSubscribe(t, o, "app", "orders", "1.2", nil, false)
		mustSubscribe(t, o, "other", "presence-c", "1.1", nil, false)
		got, err := o.Channels(ctx, "app", "presence-")
		want := map[string]ChannelInfo{"presence-a": {SubscriptionCount: 1}, "presence-b": {SubscriptionCount: 1}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Channels(presence-) = %v, %v", got, err)
		}
		if got, _ := o.Channels(ctx, "app", ""); len(got) != 4 || got["orders"].SubscriptionCount != 2 || got["private-x:y:socks"].SubscriptionCount != 1 {
			t.Errorf("Channels() = %v", got)
		}
		mustUnsubscribe(t, o, "app", "orders", "1.1", "", false)
		for i := range 2 {
			if err := o.Connect(ctx, "app", fmt.Sprint("1.", i), 2); err != nil {
				t.Fatalf("connection %d refused: %v", i, err)
			}
		}
		if err := o.Connect(ctx, "app", "1.2", 2); !errors.Is(err, ErrOverQuota) {
			t.Errorf("third connection: %v, want ErrOverQuota", err)
		}
		if err := o.Connect(ctx, "app", "1.1", 2); err != nil {
			t.Errorf("a socket already connected, connected again (a retried Connect): %v", err)
		}
		if err := o.Connect(ctx, "other", "1.2", 0); err != nil {
			t.Errorf("unlimited app refused: %v", err)
		}
		if err := o.Disconnect(ctx, "app", "1.0"); err != nil {
			t.Fatal(err)
		}
		if err := o.Disconnect(ctx, "app", "1.0"); err != nil { // a retried Disconnect
			t.Fatal(err)
		}
		if n, err := o.Connections(ctx, "app"); n != 1 || err != nil {
			t.Errorf("connections = %d, %v; want 1", n, err)
		}
	})
}

func TestOccupancyUnknown(t *testing.T) {
	forEachOccupancy(t, func(t *testing.T, o Occupancy) {
		ctx := context.Background()
		if info, err := o.Channel(ctx, "app", "presence-none"); info != (ChannelInfo{}) || err != nil {
			t.Errorf("Channel = %+v, %v", info, err)
		}
		if all, err := o.Channels(ctx, "app", ""); len(all) != 0 || err != nil {
			t.Errorf("Channels = %v, %v", all, err)
		}
		if p, err := o.Members(ctx, "app", "presence-none"); len(p.Members) != 0 || p.Seq != 0 || err != nil {
			t.Errorf("Members = %v, %v", p, err)
		}
		if n, err := o.Connections(ctx, "app"); n != 0 || err != nil {
			t.Errorf("Connections = %d, %v", n, err)
		}
		if err := o.Disconnect(ctx, "app", "1.1"); err != nil {
			t.Errorf("Disconnect without Connect: %v", err)
		}
		if n, _ := o.Connections(ctx, "app"); n != 0 {
			t.Errorf("Connections after a stray Disconnect = %d", n)
		}
	})
}

// Members keep RawID and Info byte for byte, tell a nil Info from a present one and accept
// user ids and app ids with any characters.
// The same holds for the member events the scripts publish.
func TestRedisOccupancyMemberRoundTrip(t *testing.T) {
	nodes, rdb, _ := redisNodes(t, 1, 0)
	o, ctx := nodes[0], context.Background()
	want := []Member{
		{UserID: "7", RawID: json.RawMessage(`7`)},
		{UserID: "7 ", RawID: json.RawMessage(`"7 "`), Info: json.RawMessage(`{ "name" : "Zoë \u003c" }`)},
		{UserID: "a|b\x00:c/\"é", RawID: json.RawMessage(`"a|b\u0000:c/\"é"`), Info: json.RawMessage(`null`)},
	}
	ps := rdb.Subscribe(ctx, o.relay)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		mustSubscribe(t, o, "app:ch:x%", "presence-x:users", fmt.Sprint(i), &want[i], true)
	}
	got, err := o.Members(ctx, "app:ch:x%", "presence-x:users")
	if err != nil || !reflect.DeepEqual(got.Members, want) {
		t.Fatalf("Members = %q, %v\nwant %q", got.Members, err, want)
	}
	if got.Members[0].Info != nil {
		t.Errorf("nil Info came back as %q", got.Members[0].Info)
	}
	if other, _ := o.Members(ctx, "app", "x:users"); len(other.Members) != 0 {
		t.Errorf("app id escaping leaks members: %v", other)
	}
	for i := range want {
		msg, ev := receiveMemberMessage(ctx, t, ps)
		m, err := MemberFromFields(ev.Member)
		if err != nil || !reflect.DeepEqual(m, want[i]) || ev.UserID != want[i].UserID || ev.AppID != "app:ch:x%" ||
			ev.Channel != "presence-x:users" || ev.Except != fmt.Sprint(i) {
			t.Errorf("member event %q decodes as %+v, %q, %v", msg.Payload, ev, m, err)
		}
		if i == len(want)-1 && ev.Seq != got.Seq {
			t.Errorf("last member event seq %d, member list seq %d", ev.Seq, got.Seq)
		}
	}
	// A member_removed carries the member as it was stored, so that its id keeps its JSON type.
	for i := range want {
		if _, _, err := o.Unsubscribe(ctx, "app:ch:x%", "presence-x:users", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		msg, ev := receiveMemberMessage(ctx, t, ps)
		m, err := MemberFromFields(ev.Removed)
		if err != nil || ev.Member != nil || ev.UserID != want[i].UserID || !reflect.DeepEqual(m, want[i]) {
			t.Errorf("member_removed %q decodes as %+v, %q, %v", msg.Payload, ev, m, err)
		}
	}
}

// Two nodes decide first and last once for the cluster, list each other's members in join
// order and count a user on both nodes once.
func TestRedisOccupancyTwoNodesPresence(t *testing.T) {
	nodes, _, _ := redisNodes(t, 2, 0)
	a, b, ctx := nodes[0], nodes[1], context.Background()
	ada := &Member{UserID: "7", RawID: json.RawMessage(`7`), Info: json.RawMessage(`{"name":"Ada"}`)}
	lin := &Member{UserID: "9", RawID: json.RawMessage(`"9"`)}
	mustSubscribe(t, a, "app", "presence-room", "a.1", ada, true)
	mustSubscribe(t, b, "app", "presence-room", "b.1", ada, false)
	mustSubscribe(t, b, "app", "presence-room", "b.2", lin, true)
	mustSubscribe(t, a, "app", "presence-room", "b.2", lin, false) // same socket, any node
	mustSubscribe(t, b, "app", "orders", "b.1", nil, false)
	for _, o := range nodes {
		if info, _ := o.Channel(ctx, "app", "presence-room"); info != (ChannelInfo{SubscriptionCount: 3, UserCount: 2}) {
			t.Errorf("%s: Channel = %+v", o.node, info)
		}
		if p, _ := o.Members(ctx, "app", "presence-room"); !reflect.DeepEqual(p.Members, []Member{*ada, *lin}) {
			t.Errorf("%s: Members = %q", o.node, p.Members)
		}
		want := map[string]ChannelInfo{"presence-room": {SubscriptionCount: 3, UserCount: 2}}
		if got, _ := o.Channels(ctx, "app", "presence-"); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Channels(presence-) = %v", o.node, got)
		}
	}
	mustUnsubscribe(t, a, "app", "presence-room", "a.1", "7", false)
	mustUnsubscribe(t, a, "app", "presence-room", "a.1", "", false)
	mustUnsubscribe(t, b, "app", "presence-room", "b.1", "7", true)
	if p, _ := a.Members(ctx, "app", "presence-room"); !reflect.DeepEqual(p.Members, []Member{*lin}) {
		t.Errorf("Members after 7 left = %q", p.Members)
	}
	mustSubscribe(t, a, "app", "presence-room", "a.2", ada, true) // rejoins last
	if p, _ := b.Members(ctx, "app", "presence-room"); !reflect.DeepEqual(p.Members, []Member{*lin, *ada}) {
		t.Errorf("Members after 7 rejoined = %q", p.Members)
	}
}

// max_connections holds across nodes, and Connections is the sum of every node.
func TestRedisOccupancyTwoNodesQuota(t *testing.T) {
	nodes, _, _ := redisNodes(t, 2, 0)
	a, b, ctx := nodes[0], nodes[1], context.Background()
	for i, o := range []*RedisOccupancy{a, b, a} {
		if err := o.Connect(ctx, "app", fmt.Sprintf("%s.%d", o.node, i), 3); err != nil {
			t.Fatalf("%s: Connect: %v", o.node, err)
		}
	}
	if err := b.Connect(ctx, "app", "node-b.3", 3); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("fourth connection on b: %v, want ErrOverQuota", err)
	}
	if err := b.Disconnect(ctx, "app", "node-b.1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Disconnect(ctx, "app", "node-a.0"); err != nil { // a's socket: a's record stays
		t.Fatal(err)
	}
	if n, _ := b.Connections(ctx, "app"); n != 2 {
		t.Errorf("Connections = %d, want 2", n)
	}
	if err := b.Connect(ctx, "app", "node-b.3", 3); err != nil {
		t.Errorf("third connection after b's left: %v", err)
	}
	if n, _ := a.Connections(ctx, "app"); n != 3 {
		t.Errorf("Connections = %d, want 3", n)
	}
}

// goneLog records the member events published on a relay channel: "app channel user" for
// a member_removed, "+app channel user" for a member_added.
type goneLog struct {
	mu    sync.Mutex
	calls map[string]int
	seqs  map[string][]uint64 // per "app channel", the sequence numbers in arrival order
}

// memberMessage is the relay's member message as the scripts publish it.
type memberMessage struct {
	Kind    string   `json:"k"`
	AppID   string   `json:"a"`
	Channel string   `json:"c"`
	UserID  string   `json:"u"`
	Seq     uint64   `json:"s"`
	Except  string   `json:"x"`
	Member  []string `json:"m"`
	Removed []string `json:"r"`
}

// watchMembers subscribes to the relay channel of o's nodes and logs its member events
// until the test ends.
func watchMembers(t *testing.T, rdb *redis.Client, relay string) *goneLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ps := rdb.Subscribe(ctx, relay)
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	g := &goneLog{calls: map[string]int{}, seqs: map[string][]uint64{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ps.Channel() {
			var msg memberMessage
			if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil || msg.Kind != "member" {
				t.Errorf("relay message %q", m.Payload)
				continue
			}
			k := msg.AppID + " " + msg.Channel + " " + msg.UserID
			if msg.Member != nil {
				k = "+" + k
			}
			g.mu.Lock()
			g.calls[k]++
			g.seqs[msg.AppID+" "+msg.Channel] = append(g.seqs[msg.AppID+" "+msg.Channel], msg.Seq)
			g.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = ps.Close()
		<-done
	})
	return g
}

func (g *goneLog) snapshot() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.calls)
}

// count returns the number of events logged.
func (g *goneLog) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, v := range g.calls {
		n += v
	}
	return n
}

// runNode runs o.Run until the returned stop is called (or the test ends).
func runNode(t *testing.T, o *RedisOccupancy, written func()) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx, written) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: Run: %v", o.node, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond; the deadline only exists to fail.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// populateDead gives node b connections and subscriptions next to node a's: user 7 is on
// both nodes, user 9 and 11 only on b.
func populateDead(t *testing.T, a, b *RedisOccupancy) {
	t.Helper()
	ctx := context.Background()
	u := func(id string) *Member { return &Member{UserID: id, RawID: json.RawMessage(id)} }
	for _, c := range []struct {
		o      *RedisOccupancy
		socket string
		user   string
	}{{a, "a.1", "7"}, {b, "b.1", "7"}, {b, "b.2", "9"}, {b, "b.3", "9"}, {b, "b.4", "11"}} {
		if err := c.o.Connect(ctx, "app", c.socket, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := c.o.Subscribe(ctx, "app", "presence-room", c.socket, u(c.user), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := c.o.Subscribe(ctx, "app", "orders", c.socket, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Subscribe(ctx, "app", "presence-b-only", "b.2", u("9"), 0); err != nil {
		t.Fatal(err)
	}
}

// A node whose lease expires loses its connections and subscriptions to a surviving node's
// reaper, which reports each presence user whose last connection was there exactly once.
func TestRedisOccupancyReap(t *testing.T) {
	nodes, rdb, prefix := redisNodes(t, 2, 300*time.Millisecond)
	a, b, ctx := nodes[0], nodes[1], context.Background()
	runNode(t, a, nil)
	stopB := runNode(t, b, nil)
	populateDead(t, a, b)
	gone := watchMembers(t, rdb, a.relay)
	stopB() // b dies: its lease is no longer renewed
	waitFor(t, "node b to be reaped", func() bool {
		n, err := rdb.SIsMember(ctx, prefix+":nodes", b.node).Result()
		return err == nil && !n
	})
	want := map[string]int{"app presence-room 9": 1, "app presence-room 11": 1, "app presence-b-only 9": 1}
	waitFor(t, "the member events", func() bool { return gone.count() >= len(want) })
	if got := gone.snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("gone calls = %v, want %v", got, want)
	}
	if n, _ := a.Connections(ctx, "app"); n != 1 {
		t.Errorf("Connections = %d, want a's 1", n)
	}
	wantChannels := map[string]ChannelInfo{
		"presence-room": {SubscriptionCount: 1, UserCount: 1},
		"orders":        {SubscriptionCount: 1},
	}
	if got, _ := a.Channels(ctx, "app", ""); !reflect.DeepEqual(got, wantChannels) {
		t.Errorf("Channels = %v, want %v", got, wantChannels)
	}
	if p, _ := a.Members(ctx, "app", "presence-room"); len(p.Members) != 1 || p.Members[0].UserID != "7" {
		t.Errorf("Members = %q", p.Members)
	}
	left, _ := rdb.Exists(ctx, prefix+":node:"+b.node+":socks", prefix+":node:"+b.node+":conns").Result()
	if left != 0 {
		t.Errorf("%d of b's node keys left", left)
	}
	mustUnsubscribe(t, a, "app", "presence-room", "a.1", "7", true)
}

// Reapers racing over a big dead node report each removal once between them.
func TestRedisOccupancyRacingReapers(t *testing.T) {
	nodes, rdb, prefix := redisNodes(t, 5, 200*time.Millisecond)
	dead, ctx := nodes[0], context.Background()
	const users, socketsPerUser = 300, 3 // 900 presence + 900 public subscriptions: several batches
	want := map[string]int{}
	for u := range users {
		id := fmt.Sprint(u)
		m := &Member{UserID: id, RawID: json.RawMessage(id)}
		channel := fmt.Sprintf("presence-%d", u%7)
		want["app "+channel+" "+id] = 1
		for s := range socketsPerUser {
			socket := fmt.Sprintf("%d.%d", u, s)
			if _, err := dead.Subscribe(ctx, "app", channel, socket, m, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := dead.Subscribe(ctx, "app", "public", socket, nil, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "the dead node's lease to expire", func() bool {
		n, err := rdb.Exists(ctx, prefix+":lease:"+dead.node).Result()
		return err == nil && n == 0
	})
	gone := watchMembers(t, rdb, dead.relay)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, o := range nodes {
		o.batch = 5 // many small batches, so that the reapers interleave
	}
	for _, o := range nodes[1:] {
		wg.Go(func() {
			<-start
			if err := o.reapDead(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	waitFor(t, "the member events", func() bool { return gone.count() >= len(want) })
	time.Sleep(100 * time.Millisecond) // a repeat would arrive meanwhile
	if got := gone.snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("gone calls: %d distinct, want %d; extra or repeated: %v", len(got), len(want), diff(got, want))
	}
	if all, _ := nodes[1].Channels(ctx, "app", ""); len(all) != 0 {
		t.Errorf("channels left: %v", all)
	}
}

func diff(got, want map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range got {
		if want[k] != v {
			out[k] = v
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			out[k] = 0
		}
	}
	return out
}

// receiveMemberMessage reads the next message of ps, a member event the occupancy published.
func receiveMemberMessage(ctx context.Context, t *testing.T, ps *redis.PubSub) (*redis.Message, memberMessage) {
	t.Helper()
	msg, err := ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ev memberMessage
	if err := json.Unmarshal([]byte(msg.Payload), &ev); err != nil {
		t.Fatalf("member event %q: %v", msg.Payload, err)
	}
	return msg, ev
}
