package ws_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/reverbd/reverbd/registry"
	rws "github.com/reverbd/reverbd/ws"
)

// faultyOccupancy is a MemoryOccupancy whose Members and Unsubscribe fail while told to, as
// a shared occupancy does while Redis is away.
type faultyOccupancy struct {
	*registry.MemoryOccupancy
	failMembers     atomic.Bool
	failUnsubscribe atomic.Bool
}

var errUnavailable = errors.New("occupancy unavailable")

func (o *faultyOccupancy) Members(ctx context.Context, appID, channel string) ([]registry.Member, error) {
	if o.failMembers.Load() {
		return nil, errUnavailable
	}
	return o.MemoryOccupancy.Members(ctx, appID, channel)
}

func (o *faultyOccupancy) Unsubscribe(ctx context.Context, appID, channel, socketID string) (string, bool, error) {
	if o.failUnsubscribe.Load() {
		return "", false, errUnavailable
	}
	return o.MemoryOccupancy.Unsubscribe(ctx, appID, channel, socketID)
}

// A presence subscribe whose member list cannot be read is refused and undone: the joiner is
// never told it is alone, and the others never hear of it.
func TestPresenceMembersUnreadable(t *testing.T) {
	occ := &faultyOccupancy{MemoryOccupancy: registry.NewMemoryOccupancy()}
	e := newEnv(t, rws.Params{Occupancy: occ})
	const ch = "presence-room"
	ada, lin := e.connect(t), e.connect(t)
	ada.subscribe(ch, `{"user_id":"7"}`)

	occ.failMembers.Store(true)
	data := `{"user_id":"9"}`
	lin.send(subscribeMsg(ch, sign(lin.socketID+":"+ch+":"+data), data))
	if typ, status := subscriptionError(t, lin.read(), ch); typ != "ServerError" || status != 500 {
		t.Errorf("members unreadable: %s %d", typ, status)
	}
	lin.ping()
	if info, _ := occ.Channel(context.Background(), "3", ch); info != (registry.ChannelInfo{SubscriptionCount: 1, UserCount: 1}) {
		t.Errorf("channel = %+v, want only Ada: the refused subscribe is undone", info)
	}
	deliver(e, ch, "marker", `"m"`, "")
	if f := ada.read(); f.Event != "marker" {
		t.Errorf("Ada got %+v, want no member_added for a refused join", f)
	}
	lin.ping() // the refused socket gets none of the channel's events

	// Once the members can be read again, the same socket joins normally.
	occ.failMembers.Store(false)
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
