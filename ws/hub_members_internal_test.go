package ws

import (
	"encoding/json"
	"testing"

	"github.com/reverbd/reverbd/registry"
)

// A member event made by any node is recognized in the payload another node receives.
func TestParseMemberChange(t *testing.T) {
	withInfo := &registry.Member{UserID: "7", RawID: json.RawMessage(`7`), Info: json.RawMessage(`{"name":"Ada \"A\""}`)}
	odd := &registry.Member{UserID: "u \"1\"\u2028é", RawID: json.RawMessage(`"u \"1\"\u2028é"`)}
	cases := []struct {
		payload []byte
		want    memberChange
	}{
		{memberAdded("presence-x", withInfo), memberChange{userID: "7", added: true}},
		{memberAdded("presence-x", odd), memberChange{userID: odd.UserID, added: true}},
		{memberRemoved("presence-x", "7"), memberChange{userID: "7"}},
		{memberRemoved("presence-x", odd.UserID), memberChange{userID: odd.UserID}},
		{[]byte(`{"event":"client-x","channel":"presence-x","data":{},"user_id":"7"}`), memberChange{}},
		{[]byte(`{"event":"pusher_internal:member_added","channel":"presence-x","data":"not json"}`), memberChange{}},
		{[]byte(`{"event":"pusher_internal:member_gone","channel":"presence-x","data":"{\"user_id\":\"7\"}"}`), memberChange{}},
	}
	for _, tc := range cases {
		if got := parseMemberChange(tc.payload); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.payload, got, tc.want)
		}
	}
}

// Held member events that the member list already shows are dropped; the others are kept in
// order, each judged against the list as the ones before it changed it.
func TestDropKnown(t *testing.T) {
	held := []heldFrame{
		{frame: []byte("a"), member: memberChange{userID: "1", added: true}}, // listed: dropped
		{frame: []byte("b"), member: memberChange{userID: "2"}},              // not listed: dropped
		{frame: []byte("c")}, // not a member event
		{frame: []byte("d"), member: memberChange{userID: "1"}},              // 1 leaves
		{frame: []byte("e"), member: memberChange{userID: "1", added: true}}, // and comes back
		{frame: []byte("f"), member: memberChange{userID: "3", added: true}},
		{frame: []byte("g"), member: memberChange{userID: "3", added: true}}, // already told
	}
	got := ""
	for _, f := range dropKnown(held, []registry.Member{{UserID: "1"}}) {
		got += string(f.frame)
	}
	if got != "cdef" {
		t.Errorf("kept %q, want cdef", got)
	}
}
