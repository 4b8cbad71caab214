package jobs_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/redistest"
)

// node records what a relay delivered to it.
type node struct {
	events     chan registry.Event
	frames     chan string
	terminates chan string
	members    chan registry.MemberEvent
	counts     chan registry.CountEvent
	online     chan registry.OnlineEvent
}

func newNode() *node {
	return &node{events: make(chan registry.Event, 16), frames: make(chan string, 16), terminates: make(chan string, 16),
		members: make(chan registry.MemberEvent, 16), counts: make(chan registry.CountEvent, 16),
		online: make(chan registry.OnlineEvent, 16)}
}

func (n *node) Deliver(_ context.Context, ev registry.Event) { n.events <- ev }
func (n *node) DeliverFrame(app, channel, except string, payload []byte) {
	n.frames <- app + "|" + channel + "|" + except + "|" + string(payload)
}
func (n *node) TerminateUser(app, user string)        { n.terminates <- app + "|" + user }
func (n *node) DeliverMember(ev registry.MemberEvent) { n.members <- ev }
func (n *node) DeliverCount(ev registry.CountEvent)   { n.counts <- ev }
func (n *node) DeliverOnline(ev registry.OnlineEvent) { n.online <- ev }

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing relayed within 5s")
	}
	var zero T
	return zero
}

func TestRedisRelay(t *testing.T) {
	rdb := redistest.Client(t)
	channel := redistest.Name(t)
	a, b := newNode(), newNode()
	ra := jobs.NewRedisRelay(rdb, channel, "node-a", a, nil, nil)
	rb := jobs.NewRedisRelay(rdb, channel, "node-b", b, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, r := range []*jobs.RedisRelay{ra, rb} {
		ready := make(chan struct{})
		var once sync.Once
		go func() { _ = r.Run(ctx, func() { once.Do(func() { close(ready) }) }) }()
		<-ready
	}

	// A probe comes back through the node's own subscription, and is delivered nowhere.
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	if err := ra.Probe(pctx); err != nil {
		t.Fatalf("probe: %v", err)
	}

	ev := registry.Event{AppID: "1", Channels: []string{"orders"}, Name: "order.paid", Data: `{"id":1}`, SocketID: "1.2", QueuedAt: time.Unix(100, 0).UTC()}
	ra.Deliver(ctx, ev)
	for _, n := range []*node{a, b} {
		got := receive(t, n.events)
		if got.Name != ev.Name || got.Data != ev.Data || got.SocketID != "1.2" || got.Channels[0] != "orders" || !got.QueuedAt.Equal(ev.QueuedAt) {
			t.Errorf("event relayed as %+v", got)
		}
	}

	if err := ra.PublishFrame(ctx, "1", "private-chat", "1.2", []byte(`{"event":"client-x","channel":"private-chat","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, b.frames); got != `1|private-chat|1.2|{"event":"client-x","channel":"private-chat","data":{}}` {
		t.Errorf("frame relayed as %s", got)
	}

	if err := rb.TerminateUser(ctx, "1", "7"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b} {
		if got := receive(t, n.terminates); got != "1|7" {
			t.Errorf("terminate relayed as %s", got)
		}
	}
	// The frame was not delivered back to its own node: a's next frame is b's.
	if err := rb.PublishFrame(ctx, "1", "private-chat", "", []byte(`{"event":"client-y"}`)); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, a.frames); got != `1|private-chat||{"event":"client-y"}` {
		t.Errorf("node a got %s, want only node b's frame", got)
	}

	// A frame's payload arrives byte for byte: not compacted, <, >, & and U+2028 unescaped,
	// newlines kept.
	payload := "{ \"event\" : \"client-x\", \"channel\":\"private-chat\",\n\"data\": {\"html\": \"<b>a & b</b>\u2028\", \"n\": 1 } }"
	if err := ra.PublishFrame(ctx, "1", "private-chat", "", []byte(payload)); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, b.frames); got != "1|private-chat||"+payload {
		t.Errorf("frame relayed as %q\nwant %q", got, "1|private-chat||"+payload)
	}
}

// A publish Redis does not take is counted as failed, and an event lost that way is logged.
func TestRedisRelayCountsFailedPublishes(t *testing.T) {
	srv := redistest.StartServer(t)
	var logs bytes.Buffer
	r := jobs.NewRedisRelay(srv.Client(), redistest.Name(t), "node-a", newNode(), slog.New(slog.NewTextHandler(&logs, nil)), nil)
	ctx := context.Background()
	ev := registry.Event{AppID: "1", Channels: []string{"orders"}, Name: "order.paid", Data: "{}", QueuedAt: time.Now()}
	r.Deliver(ctx, ev)
	if s := r.Stats(); s.Published != 1 || s.Failed != 0 {
		t.Fatalf("with Redis up: %+v, want 1 published", s)
	}

	srv.Stop()
	r.Deliver(ctx, ev)
	if err := r.PublishFrame(ctx, "1", "private-chat", "", []byte(`{}`)); err == nil {
		t.Error("PublishFrame succeeded with Redis down")
	}
	if s := r.Stats(); s.Published != 1 || s.Failed != 2 {
		t.Errorf("with Redis down: %+v, want 1 published and 2 failed", s)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "event=order.paid") {
		t.Errorf("the lost event is not logged: %s", logs.String())
	}
}

// The member events that the shared occupancy's scripts publish reach every node through the
// relay, in the order they were decided, numbered one after the other.
func TestRedisRelayDeliversOccupancyMemberEvents(t *testing.T) {
	rdb := redistest.Client(t)
	channel := redistest.Name(t)
	ctx := context.Background()
	a, b := relayNodes(t, rdb, channel)
	occ := registry.NewRedisOccupancy(registry.RedisOccupancyParams{Redis: rdb, Prefix: redistest.Name(t), Relay: channel, NodeID: "node-a"})
	m := &registry.Member{UserID: "7", RawID: []byte("7"), Info: []byte(`{"name":"Ann"}`)}
	sub, err := occ.Subscribe(ctx, "1", "presence-room", "1.1", m, 0)
	if err != nil || !sub.First || len(sub.Presence.Members) != 1 {
		t.Fatalf("Subscribe = %+v, %v; want the first of one member", sub, err)
	}
	if _, last, err := occ.Unsubscribe(ctx, "1", "presence-room", "1.1"); err != nil || !last {
		t.Fatalf("Unsubscribe: last %v, %v", last, err)
	}
	for _, n := range []*node{a, b} {
		added, removed := receive(t, n.members), receive(t, n.members)
		if !added.Added || added.Except != "1.1" || added.Member.UserID != "7" || string(added.Member.RawID) != "7" ||
			string(added.Member.Info) != `{"name":"Ann"}` || added.Channel != "presence-room" || added.AppID != "1" {
			t.Errorf("member_added relayed as %+v", added)
		}
		if added.Seq != sub.Presence.Seq {
			t.Errorf("member_added has seq %d, the subscriber's list %d", added.Seq, sub.Presence.Seq)
		}
		if removed.Added || removed.Member.UserID != "7" || string(removed.Member.RawID) != "7" || removed.Except != "" || removed.Seq != added.Seq+1 {
			t.Errorf("member_removed relayed as %+v after seq %d", removed, added.Seq)
		}
	}
}

// The subscription counts that the shared occupancy's scripts publish for an app with
// subscription_count on reach every node through the relay, in order.
func TestRedisRelayDeliversOccupancyCounts(t *testing.T) {
	rdb := redistest.Client(t)
	channel := redistest.Name(t)
	ctx := context.Background()
	a, b := relayNodes(t, rdb, channel)
	apps := registry.NewApps([]config.App{{ID: "1", Key: "k", SubscriptionCount: true}})
	occ := registry.NewRedisOccupancy(registry.RedisOccupancyParams{Redis: rdb, Prefix: redistest.Name(t), Relay: channel, NodeID: "node-a", Apps: apps})
	for _, socket := range []string{"1.1", "1.2"} {
		if _, err := occ.Subscribe(ctx, "1", "orders", socket, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := occ.Unsubscribe(ctx, "1", "orders", "1.1"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b} {
		for _, want := range []int{1, 2, 1} {
			if got := receive(t, n.counts); got != (registry.CountEvent{AppID: "1", Channel: "orders", Count: want}) {
				t.Errorf("count relayed as %+v, want %d", got, want)
			}
		}
	}
}

// The online and offline events that the shared occupancy's scripts publish reach every node
// through the relay, in order, numbered one after the other.
func TestRedisRelayDeliversOccupancyOnlineEvents(t *testing.T) {
	rdb := redistest.Client(t)
	channel := redistest.Name(t)
	ctx := context.Background()
	a, b := relayNodes(t, rdb, channel)
	occ := registry.NewRedisOccupancy(registry.RedisOccupancyParams{Redis: rdb, Prefix: redistest.Name(t), Relay: channel, NodeID: "node-a"})
	w, err := occ.SignIn(ctx, "1", "1.1", "7", []string{"7"})
	if err != nil || len(w.Online) != 1 {
		t.Fatalf("SignIn = %+v, %v; want 7 online", w, err)
	}
	if err := occ.SignOut(ctx, "1", "1.1"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b} {
		online, offline := receive(t, n.online), receive(t, n.online)
		if online != (registry.OnlineEvent{AppID: "1", UserID: "7", Online: true, Seq: w.Seq}) {
			t.Errorf("online relayed as %+v, the signin's seq %d", online, w.Seq)
		}
		if offline != (registry.OnlineEvent{AppID: "1", UserID: "7", Seq: w.Seq + 1}) {
			t.Errorf("offline relayed as %+v after seq %d", offline, w.Seq)
		}
	}
}

// relayNodes runs the relays of two nodes on channel until the test ends, each subscribed
// when it returns.
func relayNodes(t *testing.T, rdb *redis.Client, channel string) (a, b *node) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a, b = newNode(), newNode()
	for i, n := range []*node{a, b} {
		r := jobs.NewRedisRelay(rdb, channel, "node-"+string(rune('a'+i)), n, nil, nil)
		ready := make(chan struct{})
		var once sync.Once
		go func() { _ = r.Run(ctx, func() { once.Do(func() { close(ready) }) }) }()
		<-ready
	}
	return a, b
}
