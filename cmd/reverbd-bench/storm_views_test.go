package main

import (
	"slices"
	"testing"
)

// A client's presence trace follows its list and the member events after it, records the
// events that cannot have been right, and the detail names what differs from the tenant.
func TestPresenceTraceDetail(t *testing.T) {
	var tr presenceTrace
	tr.list([]byte(`{"event":"pusher_internal:subscription_succeeded","channel":"presence-tenant.0","data":"{\"presence\":{\"ids\":[\"1\",2],\"hash\":{},\"count\":2}}"}`))
	for _, f := range []struct {
		frame string
		added bool
	}{
		{`{"event":"pusher_internal:member_added","channel":"presence-tenant.0","data":"{\"user_id\":\"3\",\"user_info\":{}}"}`, true},
		{`{"event":"pusher_internal:member_added","channel":"presence-tenant.0","data":"{\"user_id\":2}"}`, true},
		{`{"event":"pusher_internal:member_removed","channel":"presence-tenant.0","data":"{\"user_id\":\"4\"}"}`, false},
		{`{"event":"pusher_internal:member_removed","channel":"presence-tenant.0","data":"{\"user_id\":\"1\"}"}`, false},
	} {
		tr.member([]byte(f.frame), f.added)
	}
	c := &stormClient{idx: 2, listSize: 2}
	d, wrong := viewDetailOf(c, 0, &tr, map[string]bool{"1": true, "2": true, "5": true})
	if !wrong {
		t.Fatal("not wrong, want wrong")
	}
	for _, s := range []struct {
		name      string
		got, want []string
	}{
		{"missing", d.Missing, []string{"1", "5"}},
		{"extra", d.Extra, []string{"3"}},
		{"added twice", d.AddedTwice, []string{"2"}},
		{"removed absent", d.RemovedAbsent, []string{"4"}},
	} {
		if !slices.Equal(s.got, s.want) {
			t.Errorf("%s %q, want %q", s.name, s.got, s.want)
		}
	}
	if _, wrong := viewDetailOf(c, 0, &presenceTrace{ids: map[string]bool{"1": true}}, map[string]bool{"1": true}); wrong {
		t.Error("a right view: wrong")
	}
}
