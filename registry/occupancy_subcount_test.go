package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry/redistest"
)

// A MemoryOccupancy tells the subscription count of a non-presence channel after each change,
// in order, and nothing for a presence channel or a change that changes nothing.
func TestMemoryOccupancyNotifiesCounts(t *testing.T) {
	o := NewMemoryOccupancy()
	var got []CountEvent
	o.NotifyCounts(func(ev CountEvent) { got = append(got, ev) })
	ctx := context.Background()
	mustSubscribe(t, o, "app", "orders", "1.1", nil, false)
	mustSubscribe(t, o, "app", "orders", "1.2", nil, false)
	mustSubscribe(t, o, "app", "orders", "1.2", nil, false) // already subscribed
	mustSubscribe(t, o, "app", "presence-room", "1.1", &Member{UserID: "7", RawID: json.RawMessage(`7`)}, true)
	mustUnsubscribe(t, o, "app", "orders", "1.1", "", false)
	mustUnsubscribe(t, o, "app", "presence-room", "1.1", "7", true)
	if _, _, err := o.Unsubscribe(ctx, "app", "orders", "9.9"); err != nil { // unknown
		t.Fatal(err)
	}
	mustUnsubscribe(t, o, "app", "orders", "1.2", "", false)
	want := []CountEvent{{"app", "orders", 1}, {"app", "orders", 2}, {"app", "orders", 1}, {"app", "orders", 0}}
	if !slices.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

// countLog records the relay's "count" messages.
type countLog struct {
	mu  sync.Mutex
	got map[string][]int // "app channel" → counts in order
}

func (l *countLog) of(app, channel string) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got[app+" "+channel])
}

// watchCounts subscribes to the relay channel and logs its count messages until the test ends.
func watchCounts(t *testing.T, rdb *redis.Client, relay string) *countLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ps := rdb.Subscribe(ctx, relay)
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	l := &countLog{got: map[string][]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ps.Channel() {
			var msg struct {
				Kind    string `json:"k"`
				AppID   string `json:"a"`
				Channel string `json:"c"`
				Count   int    `json:"s"`
			}
			if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil {
				t.Errorf("relay message %q: %v", m.Payload, err)
				continue
			}
			if msg.Kind == "count" {
				l.mu.Lock()
				l.got[msg.AppID+" "+msg.Channel] = append(l.got[msg.AppID+" "+msg.Channel], msg.Count)
				l.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = ps.Close()
		<-done
	})
	return l
}

// Two nodes publish the cluster-wide subscription count of a channel of an app with
// subscription_count on after each subscribe, unsubscribe and reap, and write-back, and
// nothing for a presence channel or an app with it off.
func TestRedisOccupancyPublishesCounts(t *testing.T) {
	apps := NewApps([]config.App{{ID: "on", Key: "k1", SubscriptionCount: true}, {ID: "off", Key: "k2"}})
	rdb := redistest.Client(t)
	prefix := redisPrefix(t, rdb)
	nodes := make([]*RedisOccupancy, 2)
	for i := range nodes {
		nodes[i] = NewRedisOccupancy(RedisOccupancyParams{
			Redis: rdb, Prefix: prefix, Relay: prefix + ":relay", NodeID: fmt.Sprintf("node-%c", 'a'+i),
			LeaseTTL: 300 * time.Millisecond, Apps: apps,
		})
	}
	a, b, ctx := nodes[0], nodes[1], context.Background()
	counts := watchCounts(t, rdb, prefix+":relay")
	runNode(t, a, nil)
	stopB := runNode(t, b, nil)
	for _, app := range []string{"on", "off"} {
		for _, s := range []struct {
			o      *RedisOccupancy
			socket string
		}{{a, "a.1"}, {a, "a.2"}, {b, "b.1"}} {
			if _, err := s.o.Subscribe(ctx, app, "orders", s.socket, nil, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.o.Subscribe(ctx, app, "presence-room", s.socket, &Member{UserID: s.socket, RawID: json.RawMessage(`1`)}, 0); err != nil {
				t.Fatal(err)
			}
		}
		mustUnsubscribe(t, a, app, "orders", "a.2", "", false)
		mustUnsubscribe(t, a, app, "orders", "a.2", "", false) // unknown now: no count
	}
	waitFor(t, "the counts of the subscribes", func() bool { return len(counts.of("on", "orders")) == 4 })
	stopB() // b dies; a reaps it
	waitFor(t, "the count of the reap", func() bool { return len(counts.of("on", "orders")) == 5 })

	// Redis loses the channel; a writes it back.
	if err := rdb.Del(ctx, a.chKey("on", "orders", "socks"), a.nodeKey("state")).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the count of the write-back", func() bool { return len(counts.of("on", "orders")) == 6 })

	if got, want := counts.of("on", "orders"), []int{1, 2, 3, 2, 1, 1}; !slices.Equal(got, want) {
		t.Errorf("counts of on/orders %v, want %v", got, want)
	}
	time.Sleep(100 * time.Millisecond) // a stray message would have arrived by now
	for _, k := range [][2]string{{"on", "presence-room"}, {"off", "orders"}, {"off", "presence-room"}} {
		if got := counts.of(k[0], k[1]); len(got) != 0 {
			t.Errorf("counts of %s/%s %v, want none", k[0], k[1], got)
		}
	}
}
