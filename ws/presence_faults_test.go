package ws_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/reverbd/reverbd/registry"
	rws "github.com/reverbd/reverbd/ws"
)

// faultyOccupancy is a MemoryOccupancy whose Subscribe and Unsubscribe fail while told to, as
// a shared occupancy does while Redis is away, and whose member events can be lost on their
// way, as a relay's are while its subscription is down.
type faultyOccupancy struct {
	*registry.MemoryOccupancy
	failSubscribe   atomic.Bool
	failUnsubscribe atomic.Bool
	loseEvents      atomic.Bool
}

var errUnavailable = errors.New("occupancy unavailable")

func (o *faultyOccupancy) Subscribe(ctx context.Context, appID, channel, socketID string, m *registry.Member, max int) (registry.Subscribed, error) {
	if o.failSubscribe.Load() {
		return registry.Subscribed{}, errUnavailable
	}
	return o.MemoryOccupancy.Subscribe(ctx, appID, channel, socketID, m, max)
}

func (o *faultyOccupancy) NotifyMembers(f func(registry.MemberEvent)) {
	o.MemoryOccupancy.NotifyMembers(func(ev registry.MemberEvent) {
		if !o.loseEvents.Load() {
			f(ev)
		}
	})
}

func (o *faultyOccupancy) Unsubscribe(ctx context.Context, appID, channel, socketID string) (string, bool, error) {
	if o.failUnsubscribe.Load() {
		return "", false, errUnavailable
	}
	return o.MemoryOccupancy.Unsubscribe(ctx, appID, channel, socketID)
}

// A presence subscribe that the occupancy cannot record is refused: the joiner is never told
// it is alone, and the others never hear of it.
func TestPresenceSubscribeUnrecorded(t *testing.T) {
	occ := &faultyOccupancy{MemoryOccupancy: registry.NewMemoryOccupancy()}
	e := newEnv(t, rws.Params{Occupancy: occ})
	const ch = "presence-room"
	ada, lin := e.connect(t), e.connect(t)
	ada.subscribe(ch, `{"user_id":"7"}`)

	occ.failSubscribe.Store(true)
	data := `{"user_id":"9"}`
	lin.send(subscribeMsg(ch, sign(lin.socketID+":"+ch+":"+data), data))
	if typ, status := subscriptionError(t, lin.read(), ch); typ != "ServerError" || status != 500 {
		t.Errorf("subscribe unrecorded: %s %d", typ, status)
	}
	lin.ping()
	if info, _ := occ.Channel(context.Background(), "3", ch); info != (registry.ChannelInfo{SubscriptionCount: 1, UserCount: 1}) {
		t.Errorf("channel = %+v, want only Ada", info)
	}
	deliver(e, ch, "marker", `"m"`, "")
	if f := ada.read(); f.Event != "marker" {
		t.Errorf("Ada got %+v, want no member_added for a refused join", f)
	}
	lin.ping() // the refused socket gets none of the channel's events

	// Once the occupancy answers again, the same socket joins normally.
	occ.failSubscribe.Store(false)
	lin.subscribe(ch, data)
	if f := ada.read(); f.Event != "pusher_internal:member_added" {
		t.Errorf("Ada got %+v, want member_added", f)
	}
}

// When the occupancy cannot record a leave, the node's own subscribers still hear
// member_removed once the user's last local connection has left.
func TestPresenceLeaveWhenUnsubscribeFails(t *testing.T) {
	occ := &faultyOccupancy{MemoryOccupancy: registry.NewMemoryOccupancy()}
	e := newEnv(t, rws.Params{Occupancy: occ})
	const ch = "presence-room"
	ada, lin1, lin2 := e.connect(t), e.connect(t), e.connect(t)
	ada.subscribe(ch, `{"user_id":"7"}`)
	lin1.subscribe(ch, `{"user_id":"9"}`)
	if f := ada.read(); f.Event != "pusher_internal:member_added" {
		t.Fatalf("Ada got %+v", f)
	}
	lin2.subscribe(ch, `{"user_id":"9"}`)

	occ.failUnsubscribe.Store(true)
	lin1.send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]any{"channel": ch}})
	lin1.ping()
	deliver(e, ch, "marker", `"1"`, "")
	if f := ada.read(); f.Event != "marker" {
		t.Errorf("Ada got %+v, want no member_removed while Lin has another connection", f)
	}
	lin2.conn.Close()
	removed := ada.read()
	if removed.Event != "pusher_internal:member_removed" || removed.dataString(t) != `{"user_id":"9"}` {
		t.Errorf("Ada got %+v, want member_removed for 9", removed)
	}
}

// Member events that never reached the node (lost on their way) are made up for: a gap in
// the channel's numbers, or ResyncPresence, reads the list again and tells the difference,
// once.
func TestPresenceResyncAfterLostEvents(t *testing.T) {
	occ := &faultyOccupancy{MemoryOccupancy: registry.NewMemoryOccupancy()}
	e := newEnv(t, rws.Params{Occupancy: occ})
	const ch = "presence-room"
	ada := e.connect(t)
	ada.subscribe(ch, `{"user_id":"7"}`)
	ctx := context.Background()
	ghost := func(user string) registry.Member {
		return registry.Member{UserID: user, RawID: []byte(`"` + user + `"`)}
	}

	// 5 joins on "another node"; its member_added is lost.
	occ.loseEvents.Store(true)
	m5 := ghost("5")
	if _, err := occ.MemoryOccupancy.Subscribe(ctx, "3", ch, "x.1", &m5, 0); err != nil {
		t.Fatal(err)
	}
	occ.loseEvents.Store(false)
	e.srv.ResyncPresence()
	ada.expectMember("member_added", "5")

	// 6's member_added is lost, 8's arrives: the gap brings 6 in, after 8.
	occ.loseEvents.Store(true)
	m6 := ghost("6")
	if _, err := occ.MemoryOccupancy.Subscribe(ctx, "3", ch, "x.2", &m6, 0); err != nil {
		t.Fatal(err)
	}
	occ.loseEvents.Store(false)
	m8 := ghost("8")
	if _, err := occ.MemoryOccupancy.Subscribe(ctx, "3", ch, "x.3", &m8, 0); err != nil {
		t.Fatal(err)
	}
	ada.expectMember("member_added", "8")
	ada.expectMember("member_added", "6")
	e.srv.ResyncPresence() // nothing left to tell
	deliver(e, ch, "marker", `"m"`, "")
	if f := ada.read(); f.Event != "marker" {
		t.Errorf("got %+v, want nothing told twice, then the marker", f)
	}
}
