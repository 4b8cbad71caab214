package ws_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/reverbd/reverbd/registry"
	rws "github.com/reverbd/reverbd/ws"
)

// countOf decodes a pusher_internal:subscription_count frame of channel as pusher-js does
// (the data is a JSON string holding {"subscription_count": n}).
func countOf(t *testing.T, f frame, channel string) int {
	t.Helper()
	if f.Event != "pusher_internal:subscription_count" || f.Channel != channel {
		t.Fatalf("got %s on %q (%s), want pusher_internal:subscription_count on %s", f.Event, f.Channel, f.Data, channel)
	}
	var d struct {
		Count *int `json:"subscription_count"`
	}
	if err := json.Unmarshal([]byte(f.dataString(t)), &d); err != nil || d.Count == nil {
		t.Fatalf("subscription_count data %s: %v", f.Data, err)
	}
	return *d.Count
}

// readCountUntil reads c's frames until the count of channel is want, and returns the counts
// it read on the way.
func (c *client) readCountUntil(channel string, want int) []int {
	c.t.Helper()
	var seen []int
	for {
		n := countOf(c.t, c.read(), channel)
		seen = append(seen, n)
		if n == want {
			return seen
		}
	}
}

// With subscription_count on, the subscribers of a channel are told its count when it
// changes: a new subscriber right after its subscription_succeeded, the others once the
// latest count is due; a burst of changes reaches them as a few counts, the last one the
// count after the burst.
func TestSubscriptionCount(t *testing.T) {
	app := testApp()
	app.SubscriptionCount = true
	e := newEnv(t, rws.Params{}, app)
	a := e.connect(t)
	a.subscribe("orders", "")
	if n := countOf(t, a.read(), "orders"); n != 1 {
		t.Fatalf("first subscriber told %d, want 1", n)
	}
	b := e.connect(t)
	b.subscribe("orders", "")
	if n := countOf(t, b.read(), "orders"); n != 2 {
		t.Fatalf("second subscriber told %d, want 2", n)
	}
	a.readCountUntil("orders", 2)

	// A burst: 8 subscribe and unsubscribe again, 16 changes.
	start := time.Now()
	for range 8 {
		c := e.connect(t)
		c.subscribe("orders", "")
		c.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "orders"}})
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if info, err := e.occupancy.Channel(context.Background(), "3", "orders"); err == nil && info.SubscriptionCount == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the burst's unsubscribes were not recorded")
		}
	}
	// At most one count a second, and the first at once.
	most := 2 + int(time.Since(start)/time.Second)
	deliver(e, "orders", "marker", "{}", "")
	var seen []int
	for f := a.read(); f.Event != "marker"; f = a.read() {
		seen = append(seen, countOf(t, f, "orders"))
	}
	if len(seen) == 0 || seen[len(seen)-1] != 2 {
		seen = append(seen, countOf(t, a.read(), "orders")) // held back until now
	}
	if len(seen) > most || seen[len(seen)-1] != 2 {
		t.Errorf("the burst reached a subscriber as counts %v, want at most %d ending with 2", seen, most)
	}
}

// No count reaches a presence channel, nor the channels of an app without
// subscription_count.
func TestSubscriptionCountOff(t *testing.T) {
	on := testApp()
	on.SubscriptionCount = true
	e := newEnv(t, rws.Params{}, on)
	a, b := e.connect(t), e.connect(t)
	a.subscribe("presence-room", `{"user_id":"1"}`)
	b.subscribe("presence-room", `{"user_id":"2"}`)
	if f := a.read(); f.Event != "pusher_internal:member_added" {
		t.Fatalf("got %s, want member_added", f.Event)
	}
	deliver(e, "presence-room", "after", "{}", "")
	for _, c := range []*client{a, b} {
		if f := c.read(); f.Event != "after" {
			t.Errorf("presence channel: %s %s, want the event", f.Event, f.Data)
		}
	}

	off := newEnv(t, rws.Params{})
	c, d := off.connect(t), off.connect(t)
	c.subscribe("orders", "")
	d.subscribe("orders", "")
	deliver(off, "orders", "after", "{}", "")
	for _, cl := range []*client{c, d} {
		if f := cl.read(); f.Event != "after" {
			t.Errorf("app without subscription_count: %s %s, want the event", f.Event, f.Data)
		}
	}
}

// On a cache channel, a new subscriber gets subscription_succeeded, then the cached event or
// pusher:cache_miss, then the count: the cache's frame comes right after
// subscription_succeeded.
func TestSubscriptionCountAfterCacheFrame(t *testing.T) {
	app := testApp()
	app.SubscriptionCount = true
	e := newEnv(t, rws.Params{}, app)
	a := e.connect(t)
	a.subscribe("cache-prices", "")
	if f := a.read(); f.Event != "pusher:cache_miss" || f.Channel != "cache-prices" {
		t.Fatalf("after subscription_succeeded: %s on %q (%s), want pusher:cache_miss", f.Event, f.Channel, f.Data)
	}
	if n := countOf(t, a.read(), "cache-prices"); n != 1 {
		t.Errorf("first subscriber told %d, want 1", n)
	}

	if err := e.cache.Put(context.Background(), "3", "private-cache-prices", registry.CachedEvent{Event: "price.updated", Data: `{"eur":1.07}`}, time.Minute); err != nil {
		t.Fatal(err)
	}
	for i, c := range []*client{e.connect(t), e.connect(t)} {
		c.subscribe("private-cache-prices", "")
		if f := c.read(); f.Event != "price.updated" || f.dataString(t) != `{"eur":1.07}` {
			t.Fatalf("subscriber %d after subscription_succeeded: %s (%s), want the cached event", i, f.Event, f.Data)
		}
		if n := countOf(t, c.read(), "private-cache-prices"); n != i+1 {
			t.Errorf("subscriber %d told %d, want %d", i, n, i+1)
		}
	}
}
