package ws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reverbd/reverbd/registry"
	rws "github.com/reverbd/reverbd/ws"
)

// Redis that does not answer, as during a CLIENT PAUSE or a failover, seen through the two
// interfaces that reach it: the Publisher and the Occupancy. The tests check that nothing
// local waits for it.

// stall holds the calls of one method until letGo, or until their context ends.
type stall struct {
	calls   int  // calls still to hold; negative: every call
	stale   bool // Subscribe or Members: do the call, then wait (the answer was on its way)
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newStall(calls int) *stall {
	return &stall{calls: calls, entered: make(chan struct{}, 1024), release: make(chan struct{})}
}

func (st *stall) letGo() { st.once.Do(func() { close(st.release) }) }

// waitEntered waits until a call is being held.
func (st *stall) waitEntered(t *testing.T, what string) {
	t.Helper()
	select {
	case <-st.entered:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s was never called", what)
	}
}

// stalledOccupancy is a MemoryOccupancy whose Subscribe, Unsubscribe or Members can be held.
type stalledOccupancy struct {
	*registry.MemoryOccupancy
	mu     sync.Mutex
	stalls map[string]*stall
	calls  map[string]int // calls that have returned, by method
}

func newStalledOccupancy() *stalledOccupancy {
	return &stalledOccupancy{MemoryOccupancy: registry.NewMemoryOccupancy(), stalls: map[string]*stall{}, calls: map[string]int{}}
}

func (o *stalledOccupancy) returned(method string) {
	o.mu.Lock()
	o.calls[method]++
	o.mu.Unlock()
}

// waitReturned waits until n calls of method have returned.
func (o *stalledOccupancy) waitReturned(t *testing.T, method string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		o.mu.Lock()
		got := o.calls[method]
		o.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls of %s returned, want %d", got, method, n)
		}
	}
}

// stall holds the next calls calls of method (every call if negative) until letGo.
func (o *stalledOccupancy) stall(t *testing.T, method string, calls int) *stall {
	st := newStall(calls)
	o.mu.Lock()
	o.stalls[method] = st
	o.mu.Unlock()
	t.Cleanup(st.letGo) // before the server's Shutdown, registered earlier
	return st
}

func (o *stalledOccupancy) hold(ctx context.Context, method string, before func()) error {
	o.mu.Lock()
	st := o.stalls[method]
	if st == nil || st.calls == 0 {
		o.mu.Unlock()
		return nil
	}
	st.calls--
	o.mu.Unlock()
	if before != nil && st.stale {
		before()
	}
	st.entered <- struct{}{}
	select {
	case <-st.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *stalledOccupancy) Subscribe(ctx context.Context, appID, channel, socketID string, m *registry.Member, maxMembers int) (registry.Subscribed, error) {
	defer o.returned("Subscribe")
	var sub registry.Subscribed
	var err error
	done := false
	if herr := o.hold(ctx, "Subscribe", func() {
		sub, err = o.MemoryOccupancy.Subscribe(ctx, appID, channel, socketID, m, maxMembers)
		done = true
	}); herr != nil {
		return registry.Subscribed{}, herr
	}
	if done {
		return sub, err
	}
	return o.MemoryOccupancy.Subscribe(ctx, appID, channel, socketID, m, maxMembers)
}

func (o *stalledOccupancy) Unsubscribe(ctx context.Context, appID, channel, socketID string) (string, bool, error) {
	defer o.returned("Unsubscribe")
	if err := o.hold(ctx, "Unsubscribe", nil); err != nil {
		return "", false, err
	}
	return o.MemoryOccupancy.Unsubscribe(ctx, appID, channel, socketID)
}

func (o *stalledOccupancy) Members(ctx context.Context, appID, channel string) (registry.Presence, error) {
	var members registry.Presence
	var err error
	read := false
	if herr := o.hold(ctx, "Members", func() {
		members, err = o.MemoryOccupancy.Members(ctx, appID, channel)
		read = true
	}); herr != nil {
		return registry.Presence{}, herr
	}
	if read {
		return members, err
	}
	return o.MemoryOccupancy.Members(ctx, appID, channel)
}

// stalledPublisher holds every publish until letGo, whatever its context says, and records
// what it published.
type stalledPublisher struct {
	*stall
	mu     sync.Mutex
	frames []string
}

func (p *stalledPublisher) PublishFrame(_ context.Context, _, _, _ string, payload []byte) error {
	select {
	case p.entered <- struct{}{}:
	default:
	}
	<-p.release
	p.mu.Lock()
	p.frames = append(p.frames, string(payload))
	p.mu.Unlock()
	return nil
}

func (p *stalledPublisher) published() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.frames)
}

// presence subscribes c to presence-room as user id.
func (c *client) presence(id string) frame {
	return c.subscribe("presence-room", `{"user_id":"`+id+`"}`)
}

// expectMember reads the next frame, which must be member_added or member_removed of id.
func (c *client) expectMember(event, id string) {
	c.t.Helper()
	f := c.read()
	if f.Event != "pusher_internal:"+event || f.dataString(c.t) != `{"user_id":"`+id+`"}` {
		c.t.Fatalf("got %s %s, want %s of %s", f.Event, f.Data, event, id)
	}
}

func (c *client) whisper(n int) {
	c.sendRaw(fmt.Appendf(nil, `{"event":"client-tick","channel":"presence-room","data":{"n":%d}}`, n))
}

func (c *client) expectWhisper(n int) {
	c.t.Helper()
	f := c.read()
	if f.Event != "client-tick" || string(f.Data) != fmt.Sprintf(`{"n":%d}`, n) {
		c.t.Fatalf("got %s %s, want client-tick %d", f.Event, f.Data, n)
	}
}

// Two members of one node keep exchanging client events while the publish to the other nodes
// hangs; the frames reach the publisher afterwards, in the order they were made.
func TestClientEventsWhilePublishingHangs(t *testing.T) {
	pub := &stalledPublisher{stall: newStall(-1)}
	e := newEnv(t, rws.Params{Publisher: pub})
	t.Cleanup(pub.letGo)
	a, b := e.connect(t), e.connect(t)
	a.presence("1")
	b.presence("2")
	a.expectMember("member_added", "2")

	for n := range 10 {
		if n%2 == 0 {
			a.whisper(n)
			b.expectWhisper(n)
		} else {
			b.whisper(n)
			a.expectWhisper(n)
		}
	}
	pub.waitEntered(t, "PublishFrame")

	pub.letGo()
	var want []string // member events are the occupancy's to tell, not the publisher's
	for n := range 10 {
		user := []string{"1", "2"}[n%2]
		want = append(want, fmt.Sprintf(`{"event":"client-tick","channel":"presence-room","data":{"n":%d},"user_id":"%s"}`, n, user))
	}
	for deadline := time.Now().Add(5 * time.Second); len(pub.published()) < len(want) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := pub.published(); !slices.Equal(got, want) {
		t.Errorf("published\n%q\nwant\n%q", got, want)
	}
	if s := e.srv.Stats(); s.PublishesDropped != 0 || s.PublishesFailed != 0 {
		t.Errorf("stats %+v, want nothing dropped or failed", s)
	}
}

// Connections closed by the server are released by the writer pool. While their presence
// leave hangs in the occupancy, the pool keeps writing other connections' frames, their
// client events, deliveries and presence subscribes go on; the leave completes once the
// occupancy answers, and Shutdown completes.
func TestReleaseWhileUnsubscribeHangs(t *testing.T) {
	occ := newStalledOccupancy()
	e := newEnv(t, rws.Params{Occupancy: occ})
	a, b := e.connect(t), e.connect(t)
	a.presence("1")
	b.presence("2")
	a.expectMember("member_added", "2")
	// More connections than the pool has writers, all of user 9.
	leavers := make([]*client, runtime.GOMAXPROCS(0)+2)
	for i := range leavers {
		leavers[i] = e.connect(t)
		leavers[i].presence("9")
	}
	a.expectMember("member_added", "9")
	b.expectMember("member_added", "9")

	unsub := occ.stall(t, "Unsubscribe", -1)
	if n := e.srv.TerminateUser("3", "9"); n != len(leavers) {
		t.Fatalf("terminated %d connections, want %d", n, len(leavers))
	}
	unsub.waitEntered(t, "Unsubscribe")

	b.ping() // a frame written by the pool
	a.whisper(1)
	b.expectWhisper(1)
	deliver(e, "presence-room", "news", `"x"`, "")
	for _, c := range []*client{a, b} {
		if f := c.read(); f.Event != "news" {
			t.Fatalf("got %+v, want the delivery", f)
		}
	}
	c := e.connect(t)
	c.presence("3")
	a.expectMember("member_added", "3")
	b.expectMember("member_added", "3")

	unsub.letGo()
	a.expectMember("member_removed", "9") // once, after the last of its connections
	deliver(e, "presence-room", "marker", `"m"`, "")
	if f := a.read(); f.Event != "marker" {
		t.Errorf("got %+v, want one member_removed then the marker", f)
	}
	ctx := context.Background()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n, _ := occ.Connections(ctx, "3")
		info, _ := occ.Channel(ctx, "3", "presence-room")
		if n == 3 && info == (registry.ChannelInfo{SubscriptionCount: 3, UserCount: 3}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("occupancy: %d connections, presence-room %+v; want 3 and 3 of 3 users", n, info)
		}
	}
}

// While a presence subscribe waits for the occupancy's answer (decided, with its member list,
// but not yet back), the channel goes on: others join, leave and whisper, and frames from
// other nodes are delivered. The subscriber then gets its list and, after it, what happened
// meanwhile that the list does not show.
func TestPresenceSubscribeWhileAnswerHangs(t *testing.T) {
	occ := newStalledOccupancy()
	e := newEnv(t, rws.Params{Occupancy: occ})
	a, x := e.connect(t), e.connect(t)
	a.presence("1")
	x.presence("7")
	a.expectMember("member_added", "7")

	// j's subscribe is decided (the others hear of it) before x leaves and y joins, and its
	// answer arrives after.
	sub := occ.stall(t, "Subscribe", 1)
	sub.stale = true
	j := e.connect(t)
	j.send(subscribeMsg("presence-room", sign(j.socketID+":presence-room:"+`{"user_id":"2"}`), `{"user_id":"2"}`))
	sub.waitEntered(t, "Subscribe")
	a.expectMember("member_added", "2")

	y := e.connect(t)
	y.presence("8") // does not wait for j
	a.expectMember("member_added", "8")
	x.conn.Close()
	a.expectMember("member_removed", "7")
	y.expectMember("member_removed", "7")
	a.whisper(1)
	y.expectWhisper(1)
	delivered := make(chan struct{})
	go func() {
		e.srv.Hub().DeliverFrame("3", "presence-room", "", []byte(`{"event":"client-remote","channel":"presence-room","data":{},"user_id":"5"}`))
		close(delivered)
	}()
	select {
	case <-delivered:
	case <-time.After(5 * time.Second):
		t.Fatal("a frame from another node waits for a presence subscribe")
	}

	sub.letGo()
	var list struct {
		Presence struct {
			IDs []string `json:"ids"`
		} `json:"presence"`
	}
	f := j.read()
	if f.Event != "pusher_internal:subscription_succeeded" || json.Unmarshal([]byte(f.dataString(t)), &list) != nil {
		t.Fatalf("got %+v, want subscription_succeeded", f)
	}
	if !slices.Equal(list.Presence.IDs, []string{"1", "7", "2"}) {
		t.Errorf("list %v, want the members when it was decided: [1 7 2]", list.Presence.IDs)
	}
	// member_added of 8 and member_removed of 7, in order; then the whisper and the remote frame.
	j.expectMember("member_added", "8")
	j.expectMember("member_removed", "7")
	j.expectWhisper(1)
	if f := j.read(); f.Event != "client-remote" {
		t.Errorf("got %+v, want the frame from another node", f)
	}
	if f := a.read(); f.Event != "client-remote" {
		t.Errorf("got %+v, want the frame from another node", f)
	}
}

// A member event that the list already shows is not repeated: here 8 joins while j's
// subscribe waits, so j's list has 8.
func TestPresenceSubscribeListShowsJoin(t *testing.T) {
	occ := newStalledOccupancy()
	e := newEnv(t, rws.Params{Occupancy: occ})
	a := e.connect(t)
	a.presence("1")

	sub := occ.stall(t, "Subscribe", 1)
	j := e.connect(t)
	j.send(subscribeMsg("presence-room", sign(j.socketID+":presence-room:"+`{"user_id":"2"}`), `{"user_id":"2"}`))
	sub.waitEntered(t, "Subscribe")
	y := e.connect(t)
	y.presence("8")
	a.expectMember("member_added", "8")

	sub.letGo()
	f := j.read()
	if f.Event != "pusher_internal:subscription_succeeded" || !strings.Contains(f.dataString(t), `"8"`) {
		t.Fatalf("got %+v, want subscription_succeeded listing 8", f)
	}
	deliver(e, "presence-room", "marker", `"m"`, "")
	if f := j.read(); f.Event != "marker" {
		t.Errorf("got %+v, want no member_added of a listed user, then the marker", f)
	}
}

// A subscribe waiting for the occupancy holds no lock of its connection: the server can
// look at the connection (terminate_connections) and close it meanwhile; the subscription is
// then undone.
func TestSubscribeWhileSubscribeHangs(t *testing.T) {
	occ := newStalledOccupancy()
	e := newEnv(t, rws.Params{Occupancy: occ})
	a := e.connect(t)
	a.signin(`{"id":"5"}`)
	if f := a.read(); f.Event != "pusher:signin_success" {
		t.Fatalf("got %+v", f)
	}
	sub := occ.stall(t, "Subscribe", 1)
	a.send(subscribeMsg("orders", "", ""))
	sub.waitEntered(t, "Subscribe")

	done := make(chan int)
	go func() { done <- e.srv.TerminateUser("3", "5") }()
	select {
	case n := <-done:
		if n != 1 {
			t.Fatalf("terminated %d connections, want 1", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("terminate_connections waits for a subscribe's occupancy call")
	}
	if code, _ := a.expectClose(); code != 4009 {
		t.Fatalf("closed with %d, want 4009", code)
	}
	ctx := context.Background()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, _ := occ.Connections(ctx, "3"); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the closed connection is still counted")
		}
	}
	sub.letGo()
	occ.waitReturned(t, "Subscribe", 1)
	occ.waitReturned(t, "Unsubscribe", 1)
	if info, _ := occ.Channel(ctx, "3", "orders"); info.SubscriptionCount != 0 {
		t.Errorf("orders = %+v, want the subscription of the closed connection undone", info)
	}
}
