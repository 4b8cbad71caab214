package ws

import (
	"slices"
	"testing"

	"github.com/reverbd/reverbd/registry"
)

// Held member events that the member list includes are dropped: the numbered ones up to the
// list's number, and of those not numbered, the ones the list already shows. The others are
// kept in order, each judged against the list as the ones before it changed it.
func TestDropKnown(t *testing.T) {
	held := []heldFrame{
		{frame: []byte("a"), member: memberChange{userID: "1", added: true, seq: 9}}, // included
		{frame: []byte("b"), member: memberChange{userID: "2", seq: 10}},             // included
		{frame: []byte("c")}, // not a member event
		{frame: []byte("d"), member: memberChange{userID: "1", seq: 11}},              // 1 leaves
		{frame: []byte("e"), member: memberChange{userID: "1", added: true, seq: 12}}, // and comes back
		{frame: []byte("f"), member: memberChange{userID: "3", added: true}},          // not numbered, new
		{frame: []byte("g"), member: memberChange{userID: "3", added: true}},          // not numbered, told
		{frame: []byte("h"), member: memberChange{userID: "4"}},                       // not numbered, absent
	}
	got := ""
	for _, f := range dropKnown(held, registry.Presence{Members: []registry.Member{{UserID: "1"}}, Seq: 10}) {
		got += string(f.frame)
	}
	if got != "cdef" {
		t.Errorf("kept %q, want cdef", got)
	}
}

// roomEvent is a numbered member event of app 1's presence-room.
func roomEvent(user string, added bool, seq uint64) registry.MemberEvent {
	return registry.MemberEvent{AppID: "1", Channel: "presence-room", Member: registry.Member{UserID: user}, Added: added, Seq: seq}
}

// roomList is the frame that stands for who's member list of presence-room.
func roomList(who string) []byte { return eventFrame("list", "presence-room", who) }

// membersOf returns members with these user ids.
func membersOf(ids ...string) []registry.Member {
	out := make([]registry.Member, 0, len(ids))
	for _, id := range ids {
		out = append(out, registry.Member{UserID: id})
	}
	return out
}

// toldAdded and toldRemoved are the events a subscriber is told of a member with a string id.
func toldAdded(id string) string {
	return `pusher_internal:member_added:{"user_id":"` + id + `"}`
}

func toldRemoved(id string) string {
	return `pusher_internal:member_removed:{"user_id":"` + id + `"}`
}

// checkTold checks that the subscriber named who is told exactly want, in order.
func checkTold(t *testing.T, who string, out *captureConn, want ...string) {
	t.Helper()
	if got := eventsOnceWritten(t, out, want); !slices.Equal(got, want) {
		t.Errorf("%s got %q\nwant %q", who, got, want)
	}
}

// The view tells each open subscriber a member event once: not a repeat, not an event its
// list includes, not one older than the view; a gap in the numbers asks for a resync, which
// tells the difference.
func TestPresenceViewTellsEachChangeOnce(t *testing.T) {
	srv := raceServer(t, Params{})
	h := srv.hub
	a, aOut := capturedConn(srv)
	b, bOut := capturedConn(srv)
	ada := registry.Member{UserID: "7"}
	h.hold("1", "presence-room", a, "7")
	h.open("1", "presence-room", a, roomList("a"), registry.Presence{Members: []registry.Member{ada}, Seq: 5}, false)
	h.hold("1", "presence-room", b, "9")
	h.open("1", "presence-room", b, roomList("b"), registry.Presence{Members: []registry.Member{ada, {UserID: "9"}}, Seq: 6}, false)
	for _, s := range []struct {
		ev     registry.MemberEvent
		gap    bool
		reason string
	}{
		{roomEvent("9", true, 6), false, "b's list includes it: a only"},
		{roomEvent("9", true, 6), false, "a repeat: nobody"},
		{roomEvent("11", true, 7), false, "new: both"},
		{roomEvent("11", true, 5), false, "older than the view: nobody"},
		{roomEvent("11", true, 8), false, "changes nothing: nobody"},
		{roomEvent("7", false, 10), true, "after a gap: both"},
	} {
		if gap := h.member(s.ev); gap != s.gap {
			t.Errorf("%s: gap %v, want %v", s.reason, gap, s.gap)
		}
	}
	// The resync finds 7 back and 13 there; one older than the view changes nothing.
	h.resync("1", "presence-room", registry.Presence{Members: []registry.Member{ada, {UserID: "9"}, {UserID: "11"}, {UserID: "13"}}, Seq: 12})
	h.resync("1", "presence-room", registry.Presence{Members: []registry.Member{{UserID: "9"}}, Seq: 11})
	srv.writers.waitIdle()
	srv.wg.Wait()
	checkTold(t, "a", aOut, "list:a", toldAdded("9"), toldAdded("11"), toldRemoved("7"), toldAdded("7"), toldAdded("13"))
	checkTold(t, "b", bOut, "list:b", toldAdded("11"), toldRemoved("7"), toldAdded("7"), toldAdded("13"))
}

// Member events this node hears before its first subscriber's list arrives (its Redis reply
// can come after the events that later scripts published) go to that subscriber after the
// list, and into the view made from the list: the next event follows them, no gap is seen,
// and no resync tells them a second time.
func TestPresenceViewFollowsEventsHeardBeforeIt(t *testing.T) {
	srv := raceServer(t, Params{})
	h := srv.hub
	a, out := capturedConn(srv)
	h.hold("1", "presence-room", a, "7")
	for _, e := range []registry.MemberEvent{roomEvent("7", true, 5), roomEvent("8", true, 6), roomEvent("9", true, 7)} {
		if h.member(e) {
			t.Fatalf("event %d before any view: gap", e.Seq)
		}
	}
	// a's list was read as of event 5, its own join.
	h.open("1", "presence-room", a, roomList("a"), registry.Presence{Members: membersOf("7"), Seq: 5}, false)
	if gap := h.member(roomEvent("8", false, 8)); gap {
		t.Error("the event after those heard before the view: gap, want none")
	}
	if gap := h.member(roomEvent("9", true, 7)); gap {
		t.Error("a repeat: gap, want none")
	}
	srv.writers.waitIdle()
	srv.wg.Wait()
	checkTold(t, "a", out, "list:a", toldAdded("8"), toldAdded("9"), toldRemoved("8"))
}

// A member list can be newer than the member events this node has heard (its reply came
// after later scripts', and their events are still on their way): a view made from it, or
// brought to it, is ahead of the events. Those events, when they arrive, still go to each
// open subscriber whose own list is older than them, once; only a repeat is dropped.
func TestPresenceViewTellsEventsOlderThanANewerList(t *testing.T) {
	srv := raceServer(t, Params{})
	h := srv.hub
	a, aOut := capturedConn(srv)
	b, bOut := capturedConn(srv)
	c, cOut := capturedConn(srv)
	ev := func(user string, added bool, seq uint64, except string) registry.MemberEvent {
		e := roomEvent(user, added, seq)
		e.Except = except
		return e
	}
	// 5 is there (event 1); a joins (2), b joins (3), c joins (4): b's list comes first,
	// then a's, and the events only after both; c's list comes last, after event 2.
	h.hold("1", "presence-room", a, "7")
	h.hold("1", "presence-room", b, "8")
	h.hold("1", "presence-room", c, "9")
	h.open("1", "presence-room", b, roomList("b"), registry.Presence{Members: membersOf("5", "7", "8"), Seq: 3}, false)
	h.open("1", "presence-room", a, roomList("a"), registry.Presence{Members: membersOf("5", "7"), Seq: 2}, false)
	for _, e := range []registry.MemberEvent{ev("7", true, 2, a.id), ev("8", true, 3, b.id), ev("8", true, 3, b.id)} {
		if h.member(e) {
			t.Errorf("event %d: gap, want none", e.Seq)
		}
	}
	h.open("1", "presence-room", c, roomList("c"), registry.Presence{Members: membersOf("5", "7", "8", "9"), Seq: 4}, false)
	for _, e := range []registry.MemberEvent{ev("9", true, 4, c.id), ev("5", false, 5, "")} {
		if h.member(e) {
			t.Errorf("event %d: gap, want none", e.Seq)
		}
	}
	srv.writers.waitIdle()
	srv.wg.Wait()
	checkTold(t, "a", aOut, "list:a", toldAdded("8"), toldAdded("9"), toldRemoved("5"))
	checkTold(t, "b", bOut, "list:b", toldAdded("9"), toldRemoved("5"))
	checkTold(t, "c", cOut, "list:c", toldRemoved("5"))
}

// A subscriber whose list is newer than a view that missed changes (member events lost while
// Redis was away) brings the view to its list, less this node's own unnumbered leaves held
// for it: the others are told the difference, and a later event that changes the joiner's
// members reaches it though the old view had that member already.
func TestPresenceViewComesToANewerList(t *testing.T) {
	srv := raceServer(t, Params{})
	h := srv.hub
	a, aOut := capturedConn(srv)
	b, bOut := capturedConn(srv)
	h.hold("1", "presence-room", a, "7")
	h.open("1", "presence-room", a, roomList("a"), registry.Presence{Members: membersOf("7", "9", "5"), Seq: 5}, false)
	// 9 left meanwhile, unheard; 5 leaves through this node while Redis is away (unnumbered)
	// after b's list was read.
	h.hold("1", "presence-room", b, "8")
	h.member(roomEvent("5", false, 0))
	h.open("1", "presence-room", b, roomList("b"), registry.Presence{Members: membersOf("7", "5", "8"), Seq: 8}, false)
	h.member(roomEvent("8", true, 8)) // b's own join, heard late: a was told it by the open
	h.member(roomEvent("9", true, 9)) // 9 comes back: news to b
	srv.writers.waitIdle()
	srv.wg.Wait()
	checkTold(t, "a", aOut, "list:a", toldRemoved("5"), toldRemoved("9"), toldAdded("8"), toldAdded("9"))
	checkTold(t, "b", bOut, "list:b", toldRemoved("5"), toldAdded("9"))
}

// A leave this node told while Redis was away (unnumbered: an unsubscribe that failed, the
// user's last connection here) reaches a joiner held before it, after its list: the view
// made from that list leaves the user out too, so a later list that still has the user (it
// stayed through another node) tells the joiner it is back. Seen after a Redis restart, where
// an unsubscribe can fail while a subscribe of the same channel succeeds.
func TestPresenceViewMadeWithAHeldLeave(t *testing.T) {
	srv := raceServer(t, Params{})
	h := srv.hub
	a, aOut := capturedConn(srv)
	h.hold("1", "presence-room", a, "7")
	// 5's last connection here leaves while Redis is away; the channel has no open subscriber.
	h.member(registry.MemberEvent{AppID: "1", Channel: "presence-room", Member: registry.Member{UserID: "5"}})
	h.open("1", "presence-room", a, roomList("a"), registry.Presence{Members: membersOf("7", "5", "8"), Seq: 8}, false)
	// The list read again (a resync) still has 5: it is subscribed through another node.
	h.resync("1", "presence-room", registry.Presence{Members: membersOf("7", "5", "8"), Seq: 8})
	srv.writers.waitIdle()
	srv.wg.Wait()
	checkTold(t, "a", aOut, "list:a", toldRemoved("5"), toldAdded("5"))
}

// Member events keep the JSON type of each user_id as it joined, also where the event itself
// does not carry it: a member_removed without the id's JSON (a leave told while Redis was
// away) and the removals a resync tells take it from the view, and the view keeps it from
// the events heard before it.
func TestPresenceViewKeepsIDTypes(t *testing.T) {
	srv := raceServer(t, Params{})
	h := srv.hub
	a, out := capturedConn(srv)
	num := func(id string) registry.Member { return registry.Member{UserID: id, RawID: []byte(id)} }
	ev := func(m registry.Member, added bool, seq uint64) registry.MemberEvent {
		return registry.MemberEvent{AppID: "1", Channel: "presence-room", Member: m, Added: added, Seq: seq}
	}
	ada := registry.Member{UserID: "7", RawID: []byte(`"7"`)}
	h.hold("1", "presence-room", a, "7")
	h.member(ev(num("9"), true, 6)) // heard before a's list, which is as of event 5
	h.open("1", "presence-room", a, roomList("a"), registry.Presence{Members: []registry.Member{ada}, Seq: 5}, false)
	h.member(ev(registry.Member{UserID: "9"}, false, 7))
	h.member(ev(num("11"), true, 8))
	h.resync("1", "presence-room", registry.Presence{Members: []registry.Member{ada}, Seq: 9})
	srv.writers.waitIdle()
	srv.wg.Wait()
	checkTold(t, "a", out, "list:a",
		`pusher_internal:member_added:{"user_id":9}`, `pusher_internal:member_removed:{"user_id":9}`,
		`pusher_internal:member_added:{"user_id":11}`, `pusher_internal:member_removed:{"user_id":11}`)
}
