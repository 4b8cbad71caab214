package ws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/redistest"
	rws "github.com/reverbd/reverbd/ws"
)

// subscriptionError decodes a channel-scoped pusher:subscription_error.
func subscriptionError(t *testing.T, f frame, channel string) (typ string, status int) {
	t.Helper()
	if f.Event != "pusher:subscription_error" || f.Channel != channel {
		t.Fatalf("got %s on %q (%s), want pusher:subscription_error on %s", f.Event, f.Channel, f.Data, channel)
	}
	var d struct {
		Type   string `json:"type"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(f.Data, &d); err != nil || d.Error == "" {
		t.Fatalf("subscription_error data %s: %v", f.Data, err)
	}
	return d.Type, d.Status
}

// ping checks that c is still open and answering, and that nothing else is queued before the
// pong.
func (c *client) ping() {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	if f := c.read(); f.Event != "pusher:pong" {
		c.t.Fatalf("got %+v, want pusher:pong", f)
	}
}

func TestMaxSubscriptions(t *testing.T) {
	app := testApp()
	app.MaxSubscriptions = 3
	e := newEnv(t, rws.Params{}, app)
	c := e.connect(t)
	for _, ch := range []string{"orders.1", "private-orders.2", "orders.3"} {
		c.subscribe(ch, "")
	}
	// Re-subscribing to a channel already held is not a new one.
	c.subscribe("orders.3", "")
	c.send(subscribeMsg("orders.4", "", ""))
	if typ, status := subscriptionError(t, c.read(), "orders.4"); typ != "LimitReached" || status != 403 {
		t.Errorf("over max_subscriptions: %s %d", typ, status)
	}
	// The connection stays open, and the refused channel delivers nothing.
	deliver(e, "orders.4", "lost", `"x"`, "")
	c.ping()
	if info, _ := e.occupancy.Channel(context.Background(), "3", "orders.4"); info.SubscriptionCount != 0 {
		t.Errorf("refused subscription recorded: %+v", info)
	}
	// Leaving a channel makes room for another.
	c.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "orders.1"}})
	c.subscribe("orders.4", "")
	deliver(e, "orders.4", "kept", `"y"`, "")
	if f := c.read(); f.Event != "kept" {
		t.Errorf("got %+v, want the event of the new channel", f)
	}
}

// A connection may hold many channels; each is found by name (no linear scan), and every one
// of them still delivers and unsubscribes.
func TestManySubscriptions(t *testing.T) {
	app := testApp()
	app.MaxSubscriptions = 1000
	e := newEnv(t, rws.Params{}, app)
	c := e.connect(t)
	for i := range 1000 {
		c.send(subscribeMsg("ch."+strconv.Itoa(i), "", ""))
	}
	for i := range 1000 {
		if f := c.read(); f.Event != "pusher_internal:subscription_succeeded" || f.Channel != "ch."+strconv.Itoa(i) {
			t.Fatalf("subscribe %d: %+v", i, f)
		}
	}
	c.send(subscribeMsg("ch.1000", "", ""))
	subscriptionError(t, c.read(), "ch.1000")
	for i := 0; i < 1000; i += 2 {
		c.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": "ch." + strconv.Itoa(i)}})
	}
	c.ping()
	for i := range 1000 {
		deliver(e, "ch."+strconv.Itoa(i), "e", strconv.Quote(strconv.Itoa(i)), "")
	}
	for i := 1; i < 1000; i += 2 {
		if f := c.read(); f.Channel != "ch."+strconv.Itoa(i) {
			t.Fatalf("got %+v, want the event of ch.%d", f, i)
		}
	}
	c.ping()
}

func TestMaxClientEventsPerSecond(t *testing.T) {
	app := testApp()
	app.MaxClientEventsPerSecond = 3
	e := newEnv(t, rws.Params{}, app)
	sender, receiver := e.connect(t), e.connect(t)
	sender.subscribe("private-chat", "")
	receiver.subscribe("private-chat", "")
	const sent = 40
	for i := range sent {
		sender.sendRaw(fmt.Appendf(nil, `{"event":"client-typing","channel":"private-chat","data":{"n":%d}}`, i))
	}
	// The sender gets one 4301 per refused event, then its pong: the connection stays open.
	sender.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	refused := 0
	for {
		f := sender.read()
		if f.Event == "pusher:pong" {
			break
		}
		code, msg := errorOf(t, f)
		if code != 4301 || msg != "Client event rejected - only 3 accepted per second" {
			t.Fatalf("refusal: %d %q", code, msg)
		}
		refused++
	}
	if refused == 0 || refused > sent-3 {
		t.Fatalf("%d of %d events refused; want some refused and the first 3 accepted", refused, sent)
	}
	// The receiver gets exactly the events not refused, in order, then the marker.
	deliver(e, "private-chat", "marker", `"m"`, "")
	got := 0
	for {
		f := receiver.read()
		if f.Event == "marker" {
			break
		}
		var d struct{ N int }
		if f.Event != "client-typing" || json.Unmarshal(f.Data, &d) != nil {
			t.Fatalf("receiver got %+v", f)
		}
		if got < 3 && d.N != got {
			t.Errorf("accepted event %d is number %d, want the first ones", got, d.N)
		}
		got++
	}
	if got != sent-refused {
		t.Errorf("receiver got %d events, want %d (%d sent, %d refused)", got, sent-refused, sent, refused)
	}
}

// Reverb's rate_limiting applies to every message, client events included, next to
// max_client_events_per_second.
func TestRateLimitingWithClientEventLimit(t *testing.T) {
	app := testApp()
	app.MaxClientEventsPerSecond = 100
	app.RateLimiting.Enabled, app.RateLimiting.MaxAttempts, app.RateLimiting.DecaySeconds = true, 3, 60
	e := newEnv(t, rws.Params{}, app)
	c := e.connect(t)
	c.subscribe("private-chat", "") // message 1
	c.sendRaw([]byte(`{"event":"client-a","channel":"private-chat","data":{}}`))
	c.ping() // message 3
	c.sendRaw([]byte(`{"event":"client-a","channel":"private-chat","data":{}}`))
	if code, msg := errorOf(t, c.read()); code != 4301 || msg != "Rate limit exceeded" {
		t.Errorf("over rate_limiting: %d %q", code, msg)
	}
}

func TestMaxPresenceMembers(t *testing.T) {
	app := testApp()
	app.MaxPresenceMembers = 2
	e := newEnv(t, rws.Params{}, app)
	checkPresenceLimit(t, e, e, e.occupancy)
}

// The limit holds across nodes sharing a Redis occupancy: members on two nodes fill the
// channel, and a third user is refused on either.
func TestMaxPresenceMembersAcrossNodes(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := redistest.Name(t)
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), prefix+":*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	node := func(id string) *env {
		occ := registry.NewRedisOccupancy(registry.RedisOccupancyParams{Redis: rdb, Prefix: prefix, NodeID: id})
		app := testApp()
		app.MaxPresenceMembers = 2
		return newEnv(t, rws.Params{Occupancy: occ}, app)
	}
	a, b := node("a"), node("b")
	checkPresenceLimit(t, a, b, registry.NewRedisOccupancy(registry.RedisOccupancyParams{Redis: rdb, Prefix: prefix, NodeID: "reader"}))
}

// checkPresenceLimit fills a presence channel of max_presence_members 2 with users 1 (on a)
// and 2 (on b), then checks what a third user and a second socket of user 1 get.
func checkPresenceLimit(t *testing.T, a, b *env, occ registry.Occupancy) {
	const ch = "presence-room"
	one, two := a.connect(t), b.connect(t)
	one.subscribe(ch, `{"user_id":"1"}`)
	two.subscribe(ch, `{"user_id":"2"}`)
	if a == b { // across nodes member_added goes through the relay, which is not run here
		if f := one.read(); f.Event != "pusher_internal:member_added" {
			t.Fatalf("one got %+v", f)
		}
	}
	for _, e := range []*env{a, b} {
		three := e.connect(t)
		data := `{"user_id":"3"}`
		three.send(subscribeMsg(ch, sign(three.socketID+":"+ch+":"+data), data))
		if typ, status := subscriptionError(t, three.read(), ch); typ != "LimitReached" || status != 4100 {
			t.Errorf("third user: %s %d", typ, status)
		}
		three.ping()
	}
	// Another socket of a user already present still joins and sees both members.
	again := b.connect(t)
	f := again.subscribe(ch, `{"user_id":"1"}`)
	if got := f.dataString(t); !strings.Contains(got, `"count":2`) {
		t.Errorf("second socket of user 1: %s", got)
	}
	// Members never heard of user 3.
	one.ping()
	info, err := occ.Channel(context.Background(), "3", ch)
	if err != nil || info != (registry.ChannelInfo{SubscriptionCount: 3, UserCount: 2}) {
		t.Errorf("channel = %+v, %v; want 3 sockets of 2 users", info, err)
	}
}

// Pusher's presence limits: a member whose user_id has more than max_user_id_length
// characters, or whose user_info JSON takes more than max_presence_member_size bytes, is
// refused with a channel-scoped subscription_error; one at the limits joins.
func TestPresenceMemberLimits(t *testing.T) {
	const ch = "presence-room"
	app := testApp()
	app.MaxUserIDLength, app.MaxPresenceMemberSize = 8, 64
	e := newEnv(t, rws.Params{}, app)
	info := func(n int) string { return `{"n":"` + strings.Repeat("x", n-8) + `"}` } // n bytes
	c := e.connect(t)
	for name, data := range map[string]string{
		"user_id of 9 characters":     `{"user_id":"ééééééééé"}`,
		"numeric user_id of 9 digits": `{"user_id":123456789}`,
		"user_info of 65 bytes":       `{"user_id":"1","user_info":` + info(65) + `}`,
	} {
		c.send(subscribeMsg(ch, sign(c.socketID+":"+ch+":"+data), data))
		if typ, status := subscriptionError(t, c.read(), ch); typ != "LimitReached" || status != 4100 {
			t.Errorf("%s: %s %d", name, typ, status)
		}
	}
	c.ping() // still open
	if info, _ := e.occupancy.Channel(context.Background(), "3", ch); info.SubscriptionCount != 0 {
		t.Errorf("refused member recorded: %+v", info)
	}
	// At the limits: 8 characters (16 bytes) of user_id, 64 bytes of user_info.
	atLimit := `{"user_id":"éééééééé","user_info":` + info(64) + `}`
	f := c.subscribe(ch, atLimit)
	if got := f.dataString(t); !strings.Contains(got, `"éééééééé":`+info(64)) {
		t.Errorf("member at the limits: %s", got)
	}
	numeric := e.connect(t)
	numeric.subscribe(ch, `{"user_id":12345678}`)

	// 0 turns both off.
	app.MaxUserIDLength, app.MaxPresenceMemberSize = 0, 0
	off := newEnv(t, rws.Params{}, app)
	big := `{"user_id":"` + strings.Repeat("u", 300) + `","user_info":` + info(4096) + `}`
	off.connect(t).subscribe(ch, big)
}

// MaxChannelNameLength holds on subscribes and client events, and MaxEventNameLength on
// client events' names, in characters; a negative value lifts either.
func TestNameLimits(t *testing.T) {
	channel := func(n int) string { return "private-" + strings.Repeat("c", n-len("private-")) }
	t.Run("lowered", func(t *testing.T) {
		e := newEnv(t, rws.Params{MaxChannelNameLength: 20, MaxEventNameLength: 10})
		a, b := e.connect(t), e.connect(t)
		a.subscribe(channel(20), "")
		b.subscribe(channel(20), "")
		a.send(subscribeMsg(channel(21), sign(a.socketID+":"+channel(21)), ""))
		if typ, status := subscriptionError(t, a.read(), channel(21)); typ != "InvalidChannel" || status != 400 {
			t.Errorf("channel name over the limit: %s %d, want InvalidChannel 400", typ, status)
		}
		a.sendRaw([]byte(`{"event":"client-` + strings.Repeat("é", 3) + `","channel":"` + channel(20) + `","data":{}}`))
		if f := b.read(); f.Event != "client-ééé" {
			t.Fatalf("got %+v, want the client event of 10 characters relayed", f)
		}
		a.sendRaw([]byte(`{"event":"client-` + strings.Repeat("é", 4) + `","channel":"` + channel(20) + `","data":{}}`))
		if code, msg := errorOf(t, a.read()); code != 4301 || msg != "Client event name is too long." {
			t.Errorf("event name over the limit: %d %q", code, msg)
		}
		a.sendRaw([]byte(`{"event":"client-x","channel":"` + channel(21) + `","data":{}}`))
		if code, _ := errorOf(t, a.read()); code != 4200 {
			t.Errorf("client event on a channel name over the limit: %d, want 4200", code)
		}
		b.ping() // b got nothing else
	})
	t.Run("lifted", func(t *testing.T) {
		e := newEnv(t, rws.Params{MaxChannelNameLength: -1, MaxEventNameLength: -1})
		a, b := e.connect(t), e.connect(t)
		a.subscribe(channel(1000), "")
		b.subscribe(channel(1000), "")
		name := "client-" + strings.Repeat("n", 500)
		a.sendRaw([]byte(`{"event":"` + name + `","channel":"` + channel(1000) + `","data":{}}`))
		if f := b.read(); f.Event != name || f.Channel != channel(1000) {
			t.Fatalf("got %+v, want the client event relayed", f)
		}
	})
	t.Run("default", func(t *testing.T) {
		e := newEnv(t, rws.Params{})
		a := e.connect(t)
		a.subscribe(channel(200), "")
		a.send(subscribeMsg(channel(201), sign(a.socketID+":"+channel(201)), ""))
		if typ, _ := subscriptionError(t, a.read(), channel(201)); typ != "InvalidChannel" {
			t.Errorf("201 characters: %s, want InvalidChannel", typ)
		}
		a.sendRaw([]byte(`{"event":"client-` + strings.Repeat("n", 194) + `","channel":"` + channel(200) + `","data":{}}`))
		if code, _ := errorOf(t, a.read()); code != 4301 {
			t.Errorf("201-character event name: %d, want 4301", code)
		}
	})
}
