package api_test

import (
	"strings"
	"testing"

	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/registry"
)

// prefixes are the two ways the API is served: at the root and under REVERB_SERVER_PATH.
var prefixes = []string{"", "/ws"}

// forEachPrefix runs test against a fresh env per prefix.
func forEachPrefix(t *testing.T, test func(t *testing.T, e *env)) {
	for _, prefix := range prefixes {
		t.Run("prefix="+prefix, func(t *testing.T) {
			test(t, newEnv(t, options{prefix: prefix}))
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestSDKTrigger(t *testing.T) {
	forEachPrefix(t, func(t *testing.T, e *env) {
		c := e.client()
		// Data is relayed byte for byte, escapes and non-ASCII included.
		data := `{"msg":"héllo \"q\" <b>&amp;</b> \u2028 \\ ` + "\u2028\t" + `"}`
		if err := c.Trigger("orders", `App\Events\OrderShipped`, data); err != nil {
			t.Fatal(err)
		}
		wantEvent(t, e.rec.next(t), registry.Event{
			AppID: appID, Channels: []string{"orders"}, Name: `App\Events\OrderShipped`, Data: data,
		})

		// A non-string payload is JSON-encoded by the SDK.
		if err := c.Trigger("private-orders", ".custom.name", map[string]int{"id": 1}); err != nil {
			t.Fatal(err)
		}
		wantEvent(t, e.rec.next(t), registry.Event{
			AppID: appID, Channels: []string{"private-orders"}, Name: ".custom.name", Data: `{"id":1}`,
		})
	})
}

func TestSDKTriggerMulti(t *testing.T) {
	forEachPrefix(t, func(t *testing.T, e *env) {
		channels := []string{"orders", "private-tenant.42", "presence-room.1", "cache-prices"}
		if err := e.client().TriggerMulti(channels, "note", "hi"); err != nil {
			t.Fatal(err)
		}
		wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: channels, Name: "note", Data: "hi"})
	})
}

func TestSDKTriggerExclusive(t *testing.T) {
	forEachPrefix(t, func(t *testing.T, e *env) {
		//lint:ignore SA1019 deprecated in the SDK but still shipped, and apps still call it
		if err := e.client().TriggerExclusive("orders", "paid", `{"id":2}`, "123.456"); err != nil {
			t.Fatal(err)
		}
		wantEvent(t, e.rec.next(t), registry.Event{
			AppID: appID, Channels: []string{"orders"}, Name: "paid", Data: `{"id":2}`, SocketID: "123.456",
		})
	})
}

func TestSDKSendToUser(t *testing.T) {
	forEachPrefix(t, func(t *testing.T, e *env) {
		if err := e.client().SendToUser("7", "notice", "you have mail"); err != nil {
			t.Fatal(err)
		}
		wantEvent(t, e.rec.next(t), registry.Event{
			AppID: appID, Channels: []string{"#server-to-user-7"}, Name: "notice", Data: "you have mail",
		})
	})
}

// occupy gives the env presence-room.1 with users 7 and 10 over three sockets, and orders
// with five sockets.
func occupy(t *testing.T, e *env) {
	t.Helper()
	e.subscribe(t, "presence-room.1", "1.1", "7")
	e.subscribe(t, "presence-room.1", "1.2", "7")
	e.subscribe(t, "presence-room.1", "1.3", "10")
	for _, s := range []string{"2.1", "2.2", "2.3", "2.4", "2.5"} {
		e.subscribe(t, "orders", s, "")
	}
}

func TestSDKTriggerWithInfo(t *testing.T) {
	forEachPrefix(t, func(t *testing.T, e *env) {
		occupy(t, e)
		c := e.client()
		got, err := c.TriggerWithParams("presence-room.1", "note", "x", pusher.TriggerParams{
			Info: ptr("user_count,subscription_count"), SocketID: ptr("1.1"),
		})
		if err != nil {
			t.Fatal(err)
		}
		item, ok := got.Channels["presence-room.1"]
		if len(got.Channels) != 1 || !ok || item.UserCount == nil || *item.UserCount != 2 ||
			item.SubscriptionCount == nil || *item.SubscriptionCount != 3 {
			t.Fatalf("info %+v", got.Channels)
		}
		wantEvent(t, e.rec.next(t), registry.Event{
			AppID: appID, Channels: []string{"presence-room.1"}, Name: "note", Data: "x", SocketID: "1.1",
		})

		// user_count applies to presence channels only; empty channels count 0.
		got, err = c.TriggerMultiWithParams([]string{"orders", "empty"}, "note", "y",
			pusher.TriggerParams{Info: ptr("user_count,subscription_count")})
		if err != nil {
			t.Fatal(err)
		}
		orders, empty := got.Channels["orders"], got.Channels["empty"]
		if len(got.Channels) != 2 || orders.UserCount != nil || *orders.SubscriptionCount != 5 ||
			empty.UserCount != nil || *empty.SubscriptionCount != 0 {
			t.Fatalf("info %+v", got.Channels)
		}
		wantEvent(t, e.rec.next(t), registry.Event{
			AppID: appID, Channels: []string{"orders", "empty"}, Name: "note", Data: "y",
		})
	})
}

func TestSDKTriggerBatch(t *testing.T) {
	forEachPrefix(t, func(t *testing.T, e *env) {
		occupy(t, e)
		c := e.client()
		batch := []pusher.Event{
			{Channel: "orders", Name: "order.paid", Data: `{"id":1}`},
			{Channel: "presence-room.1", Name: "note", Data: `"hi"`, SocketID: ptr("123.456")},
		}
		got, err := c.TriggerBatch(batch)
		if err != nil {
			t.Fatal(err)
		}
		if got.Batch != nil {
			t.Fatalf("batch without info answered %+v", got.Batch)
		}
		wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{"orders"}, Name: "order.paid", Data: `{"id":1}`})
		wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{"presence-room.1"}, Name: "note", Data: `"hi"`, SocketID: "123.456"})

		batch[1].Info = ptr("user_count,subscription_count")
		got, err = c.TriggerBatch(batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Batch) != 2 || got.Batch[0].UserCount != nil || got.Batch[0].SubscriptionCount != nil ||
			*got.Batch[1].UserCount != 2 || *got.Batch[1].SubscriptionCount != 3 {
			t.Fatalf("batch info %+v", got.Batch)
		}
		e.rec.next(t)
		e.rec.next(t)
	})
}

func TestSDKChannels(t *testing.T) {
	forEachPrefix(t, func(t *testing.T, e *env) {
		c := e.client()
		got, err := c.Channels(pusher.ChannelsParams{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Channels == nil || len(got.Channels) != 0 {
			t.Fatalf("empty app: %+v", got)
		}

		occupy(t, e)
		e.subscribe(t, "presence-room.9", "3.1", "12")
		got, err = c.Channels(pusher.ChannelsParams{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Channels) != 3 {
			t.Fatalf("channels %+v", got.Channels)
		}
		got, err = c.Channels(pusher.ChannelsParams{FilterByPrefix: ptr("presence-"), Info: ptr("user_count")})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Channels) != 2 || got.Channels["presence-room.1"].UserCount != 2 ||
			got.Channels["presence-room.9"].UserCount != 1 {
			t.Fatalf("presence channels %+v", got.Channels)
		}
	})
}

func TestSDKChannel(t *testing.T) {
	forEachPrefix(t, func(t *testing.T, e *env) {
		occupy(t, e)
		c := e.client()
		got, err := c.Channel("presence-room.1", pusher.ChannelParams{Info: ptr("user_count,subscription_count")})
		if err != nil {
			t.Fatal(err)
		}
		if *got != (pusher.Channel{Name: "presence-room.1", Occupied: true, UserCount: 2, SubscriptionCount: 3}) {
			t.Fatalf("channel %+v", got)
		}
		got, err = c.Channel("nobody", pusher.ChannelParams{})
		if err != nil {
			t.Fatal(err)
		}
		if *got != (pusher.Channel{Name: "nobody"}) {
			t.Fatalf("channel %+v", got)
		}
	})
}

func TestSDKGetChannelUsers(t *testing.T) {
	forEachPrefix(t, func(t *testing.T, e *env) {
		occupy(t, e)
		// A numeric user_id is still listed as a string (SDK-go declares ID string).
		if _, err := e.occ.Subscribe(t.Context(), appID, "presence-room.1", "1.4",
			&registry.Member{UserID: "11", RawID: []byte("11")}, 0); err != nil {
			t.Fatal(err)
		}
		c := e.client()
		got, err := c.GetChannelUsers("presence-room.1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.List) != 3 || got.List[0].ID != "7" || got.List[1].ID != "10" || got.List[2].ID != "11" {
			t.Fatalf("users %+v", got.List)
		}
		_, err = c.GetChannelUsers("orders")
		if err == nil || !strings.HasPrefix(err.Error(), "Status Code: 400 - ") {
			t.Fatalf("users of a public channel: %v", err)
		}
	})
}
