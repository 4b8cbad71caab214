package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestMemoryOccupancyPresence(t *testing.T) {
	ctx := context.Background()
	o := NewMemoryOccupancy()
	ada := &Member{UserID: "7", RawID: json.RawMessage(`"7"`), Info: json.RawMessage(`{"name":"Ada"}`)}
	lin := &Member{UserID: "9", RawID: json.RawMessage(`9`)}
	steps := []struct {
		socket string
		m      *Member
		first  bool
	}{
		{"1.1", ada, true},
		{"1.2", ada, false},
		{"2.1", lin, true},
		{"2.1", lin, false}, // already subscribed
	}
	for _, s := range steps {
		sub, err := o.Subscribe(ctx, "app", "presence-room", s.socket, s.m, 0)
		first := sub.First
		if err != nil || first != s.first {
			t.Fatalf("Subscribe(%s, %s) = %v, %v; want first=%v", s.socket, s.m.UserID, first, err, s.first)
		}
	}
	info, _ := o.Channel(ctx, "app", "presence-room")
	if info != (ChannelInfo{SubscriptionCount: 3, UserCount: 2}) {
		t.Errorf("info = %+v", info)
	}
	p, _ := o.Members(ctx, "app", "presence-room")
	members := p.Members
	if len(members) != 2 || members[0].UserID != "7" || members[1].UserID != "9" {
		t.Errorf("members = %+v", members)
	}
	if user, last, _ := o.Unsubscribe(ctx, "app", "presence-room", "1.1"); user != "7" || last {
		t.Errorf("first of two connections left: user %q last %v", user, last)
	}
	if user, last, _ := o.Unsubscribe(ctx, "app", "presence-room", "1.2"); user != "7" || !last {
		t.Errorf("last connection left: user %q last %v", user, last)
	}
	if _, last, _ := o.Unsubscribe(ctx, "app", "presence-room", "9.9"); last {
		t.Error("unknown socket reported as last")
	}
	o.Unsubscribe(ctx, "app", "presence-room", "2.1")
	all, _ := o.Channels(ctx, "app", "")
	if len(all) != 0 {
		t.Errorf("vacated channel still listed: %v", all)
	}
}

func TestMemoryOccupancyChannelsAndQuota(t *testing.T) {
	ctx := context.Background()
	o := NewMemoryOccupancy()
	for _, ch := range []string{"orders", "presence-a", "presence-b"} {
		o.Subscribe(ctx, "app", ch, "1.1", nil, 0)
	}
	o.Subscribe(ctx, "other", "presence-c", "1.1", nil, 0)
	got, _ := o.Channels(ctx, "app", "presence-")
	if len(got) != 2 || got["presence-a"].SubscriptionCount != 1 {
		t.Errorf("Channels(presence-) = %v", got)
	}
	for i := range 2 {
		if err := o.Connect(ctx, "app", fmt.Sprint("1.", i), 2); err != nil {
			t.Fatalf("connection %d refused: %v", i, err)
		}
	}
	if err := o.Connect(ctx, "app", "1.2", 2); !errors.Is(err, ErrOverQuota) {
		t.Errorf("third connection: %v, want ErrOverQuota", err)
	}
	o.Disconnect(ctx, "app", "1.0")
	if n, _ := o.Connections(ctx, "app"); n != 1 {
		t.Errorf("connections = %d, want 1", n)
	}
}

func TestMemoryCacheExpires(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	c := NewMemoryCache()
	c.now = func() time.Time { return now }
	c.Put(ctx, "app", "cache-x", CachedEvent{Event: "e", Data: "1"}, 30*time.Minute)
	c.Put(ctx, "app", "cache-x", CachedEvent{Event: "e", Data: "2"}, 30*time.Minute)
	if ev, ok, _ := c.Get(ctx, "app", "cache-x"); !ok || ev.Data != "2" {
		t.Errorf("Get = %+v %v, want the last event", ev, ok)
	}
	if _, ok, _ := c.Get(ctx, "other", "cache-x"); ok {
		t.Error("cache leaks across apps")
	}
	now = now.Add(30 * time.Minute)
	if _, ok, _ := c.Get(ctx, "app", "cache-x"); ok {
		t.Error("entry survived its TTL")
	}
}

// A MemoryOccupancy tells its member events in the order it decides them, numbered one
// after the other on each channel, never going back when a channel is created again.
func TestMemoryOccupancyNotifiesMembers(t *testing.T) {
	o := NewMemoryOccupancy()
	var got []MemberEvent
	o.NotifyMembers(func(ev MemberEvent) { got = append(got, ev) })
	ctx := context.Background()
	ada := &Member{UserID: "7", RawID: json.RawMessage(`7`)}
	first, _ := o.Subscribe(ctx, "app", "presence-room", "1.1", ada, 0)
	_, _ = o.Subscribe(ctx, "app", "presence-room", "1.2", ada, 0)
	_, _, _ = o.Unsubscribe(ctx, "app", "presence-room", "1.1")
	_, _, _ = o.Unsubscribe(ctx, "app", "presence-room", "1.2") // vacates the channel
	again, _ := o.Subscribe(ctx, "app", "presence-room", "1.3", ada, 0)
	if len(got) != 3 {
		t.Fatalf("events %+v, want added, removed, added", got)
	}
	if !got[0].Added || got[0].Except != "1.1" || got[0].Seq != first.Presence.Seq ||
		got[1].Added || got[1].Seq != got[0].Seq+1 || got[1].Member.UserID != "7" ||
		!got[2].Added || got[2].Seq <= got[1].Seq || got[2].Seq != again.Presence.Seq {
		t.Errorf("events %+v; lists at %d and %d", got, first.Presence.Seq, again.Presence.Seq)
	}
}
