package main

import (
	"encoding/json"
	"slices"
	"sort"
	"strconv"
)

// With --presence-detail N a storm client keeps the user ids it was told of on its presence
// channel (the subscription_succeeded list, then each member_added and member_removed), and
// the report describes up to N clients whose view ends wrong: which ids are missing or extra,
// and the events that could not have been right (a member_added of a user already shown, a
// member_removed of one not shown).

// presenceTrace is what a client was told of its presence channel's members.
type presenceTrace struct {
	ids           map[string]bool
	addedTwice    []string // member_added of a user the client already had
	removedAbsent []string // member_removed of a user the client did not have
}

// viewDetail describes one client whose presence view ends wrong.
type viewDetail struct {
	Client        int      `json:"client"`
	Tenant        int      `json:"tenant"`
	ListSize      int      `json:"list_size"`
	Missing       []string `json:"missing,omitempty"`
	Extra         []string `json:"extra,omitempty"`
	AddedTwice    []string `json:"added_twice,omitempty"`
	RemovedAbsent []string `json:"removed_absent,omitempty"`
}

// list records the ids of a subscription_succeeded frame of a presence channel.
func (t *presenceTrace) list(frame []byte) {
	var f struct {
		Data string `json:"data"`
	}
	var d struct {
		Presence struct {
			IDs []json.RawMessage `json:"ids"`
		} `json:"presence"`
	}
	t.ids = map[string]bool{}
	if json.Unmarshal(frame, &f) != nil || json.Unmarshal([]byte(f.Data), &d) != nil {
		return
	}
	for _, id := range d.Presence.IDs {
		t.ids[userIDString(id)] = true
	}
}

// member records a member_added (added) or member_removed frame.
func (t *presenceTrace) member(frame []byte, added bool) {
	var f struct {
		Data string `json:"data"`
	}
	var d struct {
		UserID json.RawMessage `json:"user_id"`
	}
	if json.Unmarshal(frame, &f) != nil || json.Unmarshal([]byte(f.Data), &d) != nil {
		return
	}
	id := userIDString(d.UserID)
	switch {
	case added && t.ids[id]:
		t.addedTwice = append(t.addedTwice, id)
	case !added && !t.ids[id]:
		t.removedAbsent = append(t.removedAbsent, id)
	}
	if added {
		t.ids[id] = true
	} else {
		delete(t.ids, id)
	}
}

// userIDString is a user id as a string, whether it was sent as a string or a number.
func userIDString(raw json.RawMessage) string {
	if s, err := strconv.Unquote(string(raw)); err == nil {
		return s
	}
	return string(raw)
}

// viewDetailOf compares t with want, the ids of the tenant's members.
func viewDetailOf(c *stormClient, tenant int, t *presenceTrace, want map[string]bool) (viewDetail, bool) {
	d := viewDetail{Client: c.idx, Tenant: tenant, ListSize: c.listSize, AddedTwice: t.addedTwice, RemovedAbsent: t.removedAbsent}
	for id := range want {
		if !t.ids[id] {
			d.Missing = append(d.Missing, id)
		}
	}
	for id := range t.ids {
		if !want[id] {
			d.Extra = append(d.Extra, id)
		}
	}
	byNumber := func(s []string) {
		sort.Slice(s, func(i, j int) bool {
			a, _ := strconv.Atoi(s[i])
			b, _ := strconv.Atoi(s[j])
			return a < b
		})
	}
	byNumber(d.Missing)
	byNumber(d.Extra)
	wrong := len(d.Missing)+len(d.Extra)+len(d.AddedTwice)+len(d.RemovedAbsent) > 0
	return d, wrong
}

// presenceDetails returns up to n clients whose presence views end wrong, by client index.
func presenceDetails(s *storm, n int) []viewDetail {
	o := s.opt
	want := map[int]map[string]bool{}
	for _, c := range s.clients {
		if !c.okAt[stormPresence].IsZero() && c.outcome == "" {
			t := c.idx / o.tenantSize
			if want[t] == nil {
				want[t] = map[string]bool{}
			}
			want[t][strconv.Itoa(c.idx)] = true
		}
	}
	var out []viewDetail
	for _, c := range s.clients {
		if c.trace == nil || c.okAt[stormPresence].IsZero() || c.outcome != "" {
			continue
		}
		t := c.idx / o.tenantSize
		if d, wrong := viewDetailOf(c, t, c.trace, want[t]); wrong {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b viewDetail) int { return a.Client - b.Client })
	if len(out) > n {
		out = out[:n]
	}
	return out
}
