package registry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/registry/redistest"
)

// forget deletes every key of the prefix, as a FLUSHALL or a Redis restarted empty does.
func forget(t *testing.T, rdb *redis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// state is what every node reads of the shared state, for comparisons.
type state struct {
	Connections int
	Channels    map[string]ChannelInfo
	Members     map[string][]string // presence channel → user ids, sorted
}

func readState(t *testing.T, o Occupancy, app string) state {
	t.Helper()
	ctx := context.Background()
	n, err := o.Connections(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	chs, err := o.Channels(ctx, app, "")
	if err != nil {
		t.Fatal(err)
	}
	st := state{Connections: n, Channels: chs, Members: map[string][]string{}}
	for name := range chs {
		if !strings.HasPrefix(name, "presence-") {
			continue
		}
		p, err := o.Members(ctx, app, name)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range p.Members {
			ids = append(ids, m.UserID)
		}
		slices.Sort(ids)
		st.Members[name] = ids
	}
	return st
}

func mustConnect(t *testing.T, o *RedisOccupancy, socket string) {
	t.Helper()
	if err := o.Connect(context.Background(), "app", socket, 0); err != nil {
		t.Fatal(err)
	}
}

// A Redis that lost everything while the nodes' connections stayed up (FLUSHALL, a restart
// or failover between two PINGs) gets every node's state back, noticed by the nodes' own
// state markers; each user whose first connection a node adds back is announced once.
func TestRedisOccupancyReassertsAfterFlush(t *testing.T) {
	nodes, rdb, prefix := redisNodes(t, 2, 300*time.Millisecond)
	a, b := nodes[0], nodes[1]
	log := watchMembers(t, rdb, a.relay)
	runNode(t, a, nil)
	runNode(t, b, nil)
	for _, s := range []struct {
		o      *RedisOccupancy
		socket string
		user   string
	}{{a, "a.1", "7"}, {a, "a.2", ""}, {b, "b.1", "9"}, {b, "b.2", "7"}} {
		mustConnect(t, s.o, s.socket)
		if s.user != "" {
			mustSubscribe(t, s.o, "app", "presence-room", s.socket, member(s.user), s.socket != "b.2")
			mustSubscribe(t, s.o, "app", "orders", s.socket, nil, false)
		}
	}
	want := readState(t, a, "app")
	waitFor(t, "the nodes' first renewals", func() bool {
		n, err := rdb.Exists(context.Background(), a.nodeKey("state"), b.nodeKey("state")).Result()
		return err == nil && n == 2
	})
	waitFor(t, "the subscribes' member events", func() bool { return log.count() == 2 })
	if got, wantLog := log.snapshot(), map[string]int{"+app presence-room 7": 1, "+app presence-room 9": 1}; !reflect.DeepEqual(got, wantLog) {
		t.Errorf("told %v on subscribing, want %v", got, wantLog)
	}

	forget(t, rdb, prefix)
	waitFor(t, "the state to be written back", func() bool { return reflect.DeepEqual(readState(t, b, "app"), want) })
	waitFor(t, "the announcements", func() bool { return log.count() == 4 })
	if got, wantLog := log.snapshot(), map[string]int{"+app presence-room 7": 2, "+app presence-room 9": 2}; !reflect.DeepEqual(got, wantLog) {
		t.Errorf("told %v, want each user added again once", got)
	}
	// The state is the nodes' own again: the last connection of 9 leaving is decided right.
	mustUnsubscribe(t, b, "app", "presence-room", "b.1", "9", true)
}

// A node reaped while it was alive (paused past its lease) finds its state gone at its next
// renewal, writes it back and announces the users the reaper announced gone.
func TestRedisOccupancyReassertsAfterReap(t *testing.T) {
	nodes, rdb, prefix := redisNodes(t, 2, 300*time.Millisecond)
	a, b, ctx := nodes[0], nodes[1], context.Background()
	runNode(t, a, nil)
	mustConnect(t, a, "a.1")
	mustSubscribe(t, a, "app", "presence-room", "a.1", member("7"), true)
	// b runs no Run yet: its lease (taken by its first write) is never renewed, as if paused.
	mustConnect(t, b, "b.1")
	mustSubscribe(t, b, "app", "presence-room", "b.1", member("9"), true)
	mustConnect(t, b, "b.2")
	mustSubscribe(t, b, "app", "presence-room", "b.2", member("7"), false)
	want := readState(t, a, "app")
	log := watchMembers(t, rdb, a.relay)
	waitFor(t, "b to be reaped", func() bool {
		n, err := rdb.SIsMember(ctx, prefix+":nodes", b.node).Result()
		return err == nil && !n
	})
	waitFor(t, "the reaper's member event", func() bool { return log.count() == 1 })
	if got := log.snapshot(); !reflect.DeepEqual(got, map[string]int{"app presence-room 9": 1}) {
		t.Fatalf("reaper told %v, want 9 gone", got)
	}

	written := make(chan struct{}, 1)
	runNode(t, b, func() { written <- struct{}{} }) // b resumes
	waitFor(t, "b's state to be written back", func() bool { return reflect.DeepEqual(readState(t, a, "app"), want) })
	<-written
	waitFor(t, "b's member event", func() bool { return log.count() == 2 })
	if got := log.snapshot(); !reflect.DeepEqual(got, map[string]int{"app presence-room 9": 1, "+app presence-room 9": 1}) {
		t.Errorf("told %v, want 9 gone then back (7 never left)", got)
	}
	if seqs := log.seqs["app presence-room"]; len(seqs) != 2 || seqs[1] != seqs[0]+1 {
		t.Errorf("sequence numbers %v, want two that follow each other", seqs)
	}
}

// What Redis holds for a node and the node no longer has (a Connect or Subscribe whose reply
// was lost, here written by an earlier incarnation of the node) is removed by the
// write-back, and a presence user left with no connection is announced gone.
func TestRedisOccupancyReassertRemovesGhosts(t *testing.T) {
	nodes, rdb, prefix := redisNodes(t, 1, 0)
	a, ctx := nodes[0], context.Background()
	ghost := NewRedisOccupancy(RedisOccupancyParams{Redis: rdb, Prefix: prefix, Relay: a.relay, NodeID: a.node})
	mustConnect(t, a, "a.1")
	mustSubscribe(t, a, "app", "presence-room", "a.1", member("7"), true)
	mustConnect(t, ghost, "a.2")
	mustSubscribe(t, ghost, "app", "presence-room", "a.2", member("7"), false)
	mustConnect(t, ghost, "a.3")
	mustSubscribe(t, ghost, "app", "presence-room", "a.3", member("13"), true)
	mustSubscribe(t, ghost, "app", "orders", "a.3", nil, false)
	log := watchMembers(t, rdb, a.relay)
	if _, err := a.reassert(ctx); err != nil {
		t.Fatal(err)
	}
	want := state{Connections: 1, Channels: map[string]ChannelInfo{"presence-room": {SubscriptionCount: 1, UserCount: 1}},
		Members: map[string][]string{"presence-room": {"7"}}}
	if got := readState(t, a, "app"); !reflect.DeepEqual(got, want) {
		t.Errorf("after the write-back: %+v, want %+v", got, want)
	}
	waitFor(t, "the member event", func() bool { return log.count() == 1 })
	if got := log.snapshot(); !reflect.DeepEqual(got, map[string]int{"app presence-room 13": 1}) {
		t.Errorf("told %v, want 13 gone", got)
	}
}

// Leaves that could not reach Redis (Redis was down, then came back empty) are not written
// back: the nodes' write-backs hold only the connections still open, and tell each user they
// add (the socket layer then reads its lists again, which drops the users that left).
func TestRedisOccupancyReassertAfterFailedLeaves(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := srv.Client()
	ctx := context.Background()
	a := NewRedisOccupancy(RedisOccupancyParams{Redis: rdb, Prefix: "p", Relay: "p:relay", NodeID: "a"})
	b := NewRedisOccupancy(RedisOccupancyParams{Redis: rdb, Prefix: "p", Relay: "p:relay", NodeID: "b"})
	mustSubscribe(t, a, "app", "presence-room", "a.1", member("7"), true)
	mustSubscribe(t, a, "app", "presence-room", "a.2", member("11"), true)
	mustSubscribe(t, b, "app", "presence-room", "b.1", member("7"), false)
	srv.Stop()
	for _, socket := range []string{"a.1", "a.2"} {
		if _, _, err := a.Unsubscribe(ctx, "app", "presence-room", socket); err == nil {
			t.Fatal("Unsubscribe with Redis down succeeded")
		}
	}
	if !a.book.isDirty() {
		t.Error("a failed write leaves the node dirty")
	}
	srv.Start() // empty
	log := watchMembers(t, rdb, "p:relay")
	if _, err := b.reassert(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.reassert(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b's member event", func() bool { return log.count() == 1 })
	if got := log.snapshot(); !reflect.DeepEqual(got, map[string]int{"+app presence-room 7": 1}) {
		t.Errorf("told %v, want 7 added back by b", got)
	}
	if got := readState(t, a, "app").Members["presence-room"]; !reflect.DeepEqual(got, []string{"7"}) {
		t.Errorf("members %v, want [7]", got)
	}
	if a.book.isDirty() {
		t.Error("still dirty after a write-back")
	}
}

// Subscribes, unsubscribes, connects and disconnects keep running while the state is written
// back in many small batches after Redis lost it: none is lost and none comes back as a
// ghost.
func TestRedisOccupancyReassertRacesWrites(t *testing.T) {
	nodes, rdb, prefix := redisNodes(t, 1, 0)
	o, ctx := nodes[0], context.Background()
	o.batch = 1 // one socket per batch: the writes hit the sockets being written back
	const workers, socketsEach, rounds = 8, 4, 40
	channels := []string{"presence-a", "presence-b", "orders"}
	type sock struct {
		id        string
		user      *Member
		connected bool
		subs      map[string]bool
	}
	socks := make([][]*sock, workers)
	for w := range socks {
		for i := range socketsEach {
			s := &sock{id: fmt.Sprintf("%d.%d", w, i), user: member(fmt.Sprint(i % 7)), subs: map[string]bool{}}
			socks[w] = append(socks[w], s)
			mustConnect(t, o, s.id)
			s.connected = true
			for _, ch := range channels[:2] {
				m := s.user
				if !strings.HasPrefix(ch, "presence-") {
					m = nil
				}
				if _, err := o.Subscribe(ctx, "app", ch, s.id, m, 0); err != nil {
					t.Fatal(err)
				}
				s.subs[ch] = true
			}
		}
	}
	forget(t, rdb, prefix)

	var done atomic.Bool
	var wg sync.WaitGroup
	var ops atomic.Int64
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for !done.Load() {
				s := socks[w][r.IntN(socketsEach)]
				ch := channels[r.IntN(len(channels))]
				m := s.user
				if !strings.HasPrefix(ch, "presence-") {
					m = nil
				}
				var err error
				switch {
				case r.IntN(8) == 0 && s.connected:
					err = o.Disconnect(ctx, "app", s.id)
					s.connected = false
				case !s.connected:
					err = o.Connect(ctx, "app", s.id, 0)
					s.connected = true
				case s.subs[ch]:
					_, _, err = o.Unsubscribe(ctx, "app", ch, s.id)
					delete(s.subs, ch)
				default:
					_, err = o.Subscribe(ctx, "app", ch, s.id, m, 0)
					s.subs[ch] = true
				}
				if err != nil {
					t.Error(err)
					return
				}
				ops.Add(1)
			}
		})
	}
	var err error
	for i := 0; i < rounds && err == nil; i++ {
		if i > 0 {
			forget(t, rdb, prefix)
		}
		_, err = o.reassert(ctx)
	}
	done.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes during %d write-backs", ops.Load(), rounds)

	want := state{Channels: map[string]ChannelInfo{}, Members: map[string][]string{}}
	users := map[string]map[string]bool{}
	for _, ws := range socks {
		for _, s := range ws {
			if s.connected {
				want.Connections++
			}
			for ch := range s.subs {
				info := want.Channels[ch]
				info.SubscriptionCount++
				want.Channels[ch] = info
				if strings.HasPrefix(ch, "presence-") {
					if users[ch] == nil {
						users[ch] = map[string]bool{}
					}
					users[ch][s.user.UserID] = true
				}
			}
		}
	}
	for ch, us := range users {
		info := want.Channels[ch]
		info.UserCount = len(us)
		want.Channels[ch] = info
		want.Members[ch] = slices.Sorted(func(yield func(string) bool) {
			for u := range us {
				if !yield(u) {
					return
				}
			}
		})
	}
	if got := readState(t, o, "app"); !reflect.DeepEqual(got, want) {
		t.Errorf("after the write-back:\n got %+v\nwant %+v", got, want)
	}
	// Every socket's subscriptions are recorded exactly: nothing lost, no ghost.
	for _, ws := range socks {
		for _, s := range ws {
			for _, ch := range channels {
				ok, _ := rdb.HExists(ctx, o.chKey("app", ch, "socks"), s.id).Result()
				if ok != s.subs[ch] {
					t.Errorf("socket %s on %s: recorded %v, subscribed %v", s.id, ch, ok, s.subs[ch])
				}
			}
		}
	}
}

// A node stopping gracefully removes its connections and subscriptions at once and reports
// the users whose last connection was there; a user still connected through another node
// stays. Its state is not written back afterwards.
func TestRedisOccupancyLeave(t *testing.T) {
	nodes, rdb, _ := redisNodes(t, 2, 300*time.Millisecond)
	a, b, ctx := nodes[0], nodes[1], context.Background()
	a.batch = 2 // several batches
	runNode(t, a, nil)
	runNode(t, b, nil)
	for i, u := range []string{"7", "9", "11"} {
		s := fmt.Sprint("a.", i)
		mustConnect(t, a, s)
		mustSubscribe(t, a, "app", "presence-room", s, member(u), true)
		mustSubscribe(t, a, "app", "orders", s, nil, false)
	}
	mustConnect(t, b, "b.1")
	mustSubscribe(t, b, "app", "presence-room", "b.1", member("7"), false)
	log := watchMembers(t, rdb, a.relay)
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the member events", func() bool { return log.count() == 2 })
	if got, want := log.snapshot(), map[string]int{"app presence-room 9": 1, "app presence-room 11": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("told %v, want %v", got, want)
	}
	want := state{Connections: 1, Channels: map[string]ChannelInfo{"presence-room": {SubscriptionCount: 1, UserCount: 1}},
		Members: map[string][]string{"presence-room": {"7"}}}
	if got := readState(t, b, "app"); !reflect.DeepEqual(got, want) {
		t.Errorf("after a left: %+v, want %+v", got, want)
	}
	time.Sleep(400 * time.Millisecond) // more than a lease renewal of a
	if got := readState(t, b, "app"); !reflect.DeepEqual(got, want) {
		t.Errorf("a's state came back after it left: %+v", got)
	}
	// a's connections close afterwards: nothing is left to remove, nothing is reported.
	if _, last, err := a.Unsubscribe(ctx, "app", "presence-room", "a.1"); err != nil || last {
		t.Errorf("Unsubscribe after Leave = last %v, %v", last, err)
	}
}
