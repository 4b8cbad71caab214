package ws_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/reverbd/reverbd/registry"
	rws "github.com/reverbd/reverbd/ws"
)

func subscribeMsg(channel, auth, channelData string) map[string]any {
	d := map[string]any{"auth": auth, "channel": channel}
	if channelData != "" {
		d["channel_data"] = channelData
	}
	return map[string]any{"event": "pusher:subscribe", "data": d}
}

// subscribe subscribes c with a valid signature and returns subscription_succeeded.
func (c *client) subscribe(channel, channelData string) frame {
	c.t.Helper()
	auth := ""
	switch kind := registry.KindOf(channel); {
	case kind.IsPresence():
		auth = sign(c.socketID + ":" + channel + ":" + channelData)
	case kind.IsPrivate():
		auth = sign(c.socketID + ":" + channel)
	}
	c.send(subscribeMsg(channel, auth, channelData))
	f := c.read()
	if f.Event != "pusher_internal:subscription_succeeded" || f.Channel != channel {
		c.t.Fatalf("subscribe %s: got %s on %q: %s", channel, f.Event, f.Channel, f.Data)
	}
	return f
}

func deliver(e *env, channel, name, data, except string) {
	e.srv.Hub().Deliver(context.Background(), registry.Event{
		AppID: "3", Channels: []string{channel}, Name: name, Data: data, SocketID: except, QueuedAt: time.Now(),
	})
}

func TestSubscribePublicAndPrivate(t *testing.T) {
	e := newEnv(t, rws.Params{})
	c := e.connect(t)
	for _, ch := range []string{"orders", "private-tenant.42", "private-encrypted-orders", "private-cache-x"} {
		t.Run(ch, func(t *testing.T) {
			f := c.subscribe(ch, "")
			if got := f.dataString(t); got != "{}" {
				t.Errorf("data = %q, want {}", got)
			}
			if registry.KindOf(ch).IsCache() {
				if miss := c.read(); miss.Event != "pusher:cache_miss" || miss.Channel != ch {
					t.Errorf("after subscribing to %s: %+v, want pusher:cache_miss", ch, miss)
				}
			}
			payload := `{"order":{"id":1},"url":"https:\/\/x.test\/a<b>&c","name":"Zoë"}`
			deliver(e, ch, `App\Events\OrderShipped`, payload, "")
			got := c.read()
			if got.Event != `App\Events\OrderShipped` || got.Channel != ch || got.dataString(t) != payload {
				t.Errorf("delivered %+v, want the payload byte for byte", got)
			}
		})
	}
	info, _ := e.occupancy.Channel(context.Background(), "3", "private-tenant.42")
	if info.SubscriptionCount != 1 {
		t.Errorf("subscription_count = %d, want 1", info.SubscriptionCount)
	}
}

func TestSubscribeRefused(t *testing.T) {
	e := newEnv(t, rws.Params{})
	c := e.connect(t)
	cases := []struct {
		name, channel, auth, channelData string
		typ                              string
		status                           int
	}{
		{"bad signature", "private-tenant.42", testKey + ":deadbeef", "", "AuthError", 401},
		{"no auth", "private-tenant.42", "", "", "AuthError", 401},
		{"wrong key", "private-tenant.42", "other:" + registry.Sign(testSecret, "x"), "", "AuthError", 401},
		{"signature of another socket", "private-tenant.42", sign("1.2:private-tenant.42"), "", "AuthError", 401},
		{"presence without user_id", "presence-room.1", "", `{"user_info":{}}`, "AuthError", 401},
		{"invalid name", "bad channel!", "", "", "InvalidChannel", 400},
		{"user channel not signed in", "#server-to-user-7", "", "", "AuthError", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth := tc.auth
			if tc.name == "presence without user_id" {
				auth = sign(c.socketID + ":" + tc.channel + ":" + tc.channelData)
			}
			c.send(subscribeMsg(tc.channel, auth, tc.channelData))
			f := c.read()
			var d struct {
				Type   string `json:"type"`
				Error  string `json:"error"`
				Status int    `json:"status"`
			}
			if f.Event != "pusher:subscription_error" || f.Channel != tc.channel {
				t.Fatalf("got %s on %q, want pusher:subscription_error on %s", f.Event, f.Channel, tc.channel)
			}
			if err := json.Unmarshal(f.Data, &d); err != nil {
				t.Fatalf("data %s: %v", f.Data, err)
			}
			if d.Type != tc.typ || d.Status != tc.status || d.Error == "" {
				t.Errorf("data = %+v, want type %s status %d", d, tc.typ, tc.status)
			}
		})
	}
	// Nothing is delivered on a refused channel; the connection still works.
	deliver(e, "private-tenant.42", "secret", `"x"`, "")
	c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	if f := c.read(); f.Event != "pusher:pong" {
		t.Errorf("after refusals got %+v, want pusher:pong", f)
	}
}

func TestPresenceMembers(t *testing.T) {
	e := newEnv(t, rws.Params{})
	ada1, ada2, lin := e.connect(t), e.connect(t), e.connect(t)
	const ch = "presence-room.1"
	adaData := `{"user_id":"7","user_info":{"name":"Ada"}}`
	linData := `{"user_id":9,"user_info":{"name":"Lin"}}`

	f := ada1.subscribe(ch, adaData)
	if got := f.dataString(t); got != `{"presence":{"count":1,"ids":["7"],"hash":{"7":{"name":"Ada"}}}}` {
		t.Errorf("first member: %s", got)
	}
	f = lin.subscribe(ch, linData)
	if got := f.dataString(t); got != `{"presence":{"count":2,"ids":["7",9],"hash":{"7":{"name":"Ada"},"9":{"name":"Lin"}}}}` {
		t.Errorf("second member: %s", got)
	}
	added := ada1.read()
	// The user_id keeps its JSON type (pusher-js takes it as the member's id as it is).
	if added.Event != "pusher_internal:member_added" || added.dataString(t) != `{"user_id":9,"user_info":{"name":"Lin"}}` {
		t.Errorf("member_added = %+v", added)
	}
	// Ada's second connection: no member_added, count stays 2.
	f = ada2.subscribe(ch, adaData)
	if got := f.dataString(t); got != `{"presence":{"count":2,"ids":["7",9],"hash":{"7":{"name":"Ada"},"9":{"name":"Lin"}}}}` {
		t.Errorf("second connection of a member: %s", got)
	}
	// Re-subscribing is idempotent.
	ada2.subscribe(ch, adaData)

	ada1.conn.Close()
	deliver(e, ch, "marker", `"1"`, "")
	if f := lin.read(); f.Event != "marker" {
		t.Errorf("after Ada's first connection left, Lin got %+v, want no member_removed", f)
	}
	ada2.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": ch}})
	removed := lin.read()
	if removed.Event != "pusher_internal:member_removed" || removed.dataString(t) != `{"user_id":"7"}` {
		t.Errorf("member_removed = %+v", removed)
	}
	info, _ := e.occupancy.Channel(context.Background(), "3", ch)
	if info.UserCount != 1 || info.SubscriptionCount != 1 {
		t.Errorf("channel info = %+v, want 1 user, 1 subscription", info)
	}
	// Lin's member_removed keeps the numeric id too.
	ada3 := e.connect(t)
	ada3.subscribe(ch, adaData)
	if f := lin.read(); f.Event != "pusher_internal:member_added" {
		t.Fatalf("Lin got %+v, want Ada's member_added", f)
	}
	lin.conn.Close()
	if removed := ada3.read(); removed.Event != "pusher_internal:member_removed" || removed.dataString(t) != `{"user_id":9}` {
		t.Errorf("member_removed of a numeric id = %+v", removed)
	}
}

func TestCacheChannel(t *testing.T) {
	e := newEnv(t, rws.Params{})
	if err := e.cache.Put(context.Background(), "3", "cache-prices", registry.CachedEvent{Event: "price.updated", Data: `{"eur":1.07}`}, time.Minute); err != nil {
		t.Fatal(err)
	}
	c := e.connect(t)
	c.subscribe("cache-prices", "")
	got := c.read()
	if got.Event != "price.updated" || got.Channel != "cache-prices" || got.dataString(t) != `{"eur":1.07}` {
		t.Errorf("cached event = %+v", got)
	}
}

// Concurrent joins: every member ends up knowing every other member the way pusher-js
// computes it (the subscription_succeeded list, then member_added frames after it).
func TestPresenceConcurrentJoins(t *testing.T) {
	e := newEnv(t, rws.Params{})
	const n = 40
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = e.connect(t)
	}
	const ch = "presence-crowd"
	start := make(chan struct{})
	done := make(chan struct{})
	for i, c := range clients {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			data := `{"user_id":"u` + strconv.Itoa(i) + `"}`
			c.send(subscribeMsg(ch, sign(c.socketID+":"+ch+":"+data), data))
		}()
	}
	close(start)
	for range clients {
		<-done
	}
	for i, c := range clients {
		known := map[string]bool{}
		for len(known) < n {
			f := c.read()
			switch f.Event {
			case "pusher_internal:subscription_succeeded":
				var d struct {
					Presence struct {
						Hash map[string]json.RawMessage `json:"hash"`
					} `json:"presence"`
				}
				if err := json.Unmarshal([]byte(f.dataString(t)), &d); err != nil {
					t.Fatal(err)
				}
				known = map[string]bool{}
				for id := range d.Presence.Hash {
					known[id] = true
				}
			case "pusher_internal:member_added":
				var m struct {
					UserID string `json:"user_id"`
				}
				json.Unmarshal([]byte(f.dataString(t)), &m)
				known[m.UserID] = true
			}
		}
		if !known["u"+strconv.Itoa(i)] {
			t.Errorf("client %d does not list itself", i)
		}
	}
}
