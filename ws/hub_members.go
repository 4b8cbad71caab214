package ws

import (
	"bytes"

	"github.com/reverbd/reverbd/registry"
)

// Presence members. The occupancy decides each change of a channel's member set and tells
// it as a registry.MemberEvent numbered in the channel's order (Seq); on a cluster, the
// script that decides it publishes it to every node, this one included, so every node
// hears a channel's member events in one order. This node keeps, per presence channel with
// local subscribers, a view: the members its clients have been told and the number of the
// last event applied. From it:
//
//   - A member event goes to the open subscribers only if it changes the view (a repeat
//     changes nothing), and only to those whose member list does not include it already
//     (a list read as of event n includes every event up to n). An event the view has
//     already from a newer list (it was heard late) goes to the subscribers whose lists
//     are older than it.
//   - A subscriber's frames are held (Hub.hold) from before its subscription is recorded
//     until Hub.open queues subscription_succeeded with the list the occupancy returned,
//     then the held frames, less the member events that the list includes (numbered up to
//     the list's). A list with no number (an event this node made while Redis was away) is
//     compared by content instead.
//   - A gap in the numbers (events this node missed: its relay subscription was down) or a
//     repair of the shared state (this node's state written back) calls for a resync: the
//     member list is read again, and the difference from the view is told (Hub.resync).

// memberChange is a presence member event as held for a joining subscriber: userID joined
// (added) or left the channel, as the channel's event seq (0: not numbered).
type memberChange struct {
	userID string
	added  bool
	seq    uint64
	rawID  []byte // the member's user_id JSON: for the view (see open)
	info   []byte // the member's user_info, of an added member: for the view (see open)
}

// presenceView is what this node's subscribers of a presence channel have been told.
//
// A member list can be newer than the events this node has heard: a subscriber's reply can
// come after the events of later scripts, or before those of earlier ones. The view's
// members are as of seq, the newest of the lists and events it has seen; heard is the last
// event this node heard, in the order the occupancy published them. An event numbered
// after heard and up to seq (late: the view has it from a list) changes nothing in the
// view but still goes to each subscriber whose list is older than it.
type presenceView struct {
	seq     uint64                     // the members are as of this event
	heard   uint64                     // the last numbered member event heard (≤ seq); 0: none yet
	members map[string]registry.Member // by user id
	// from is the number of each open subscriber's member list: it has every event up to it.
	from map[*Conn]uint64
}

// newPresenceView returns the view of a member list.
func newPresenceView(p registry.Presence) *presenceView {
	v := &presenceView{seq: p.Seq, members: make(map[string]registry.Member, len(p.Members)), from: map[*Conn]uint64{}}
	for _, m := range p.Members {
		v.members[m.UserID] = m
	}
	return v
}

// apply records a member change in the view and reports whether it changed anything.
func (v *presenceView) apply(m registry.Member, added bool) bool {
	cur, ok := v.members[m.UserID]
	switch {
	case added && ok && bytes.Equal(cur.Info, m.Info):
		return false
	case added:
		v.members[m.UserID] = m
		return true
	case !ok:
		return false
	}
	delete(v.members, m.UserID)
	return true
}

// memberPayload is the pusher_internal:member_added or member_removed payload of ev.
func memberPayload(ev registry.MemberEvent) []byte {
	if ev.Added {
		return memberAdded(ev.Channel, &ev.Member)
	}
	return memberRemoved(ev.Channel, &ev.Member)
}

// member applies a member event to this node's subscribers of its channel and reports
// whether its number shows that events were missed before it (a resync is due).
func (h *Hub) member(ev registry.MemberEvent) (gap bool) {
	k := channelKey{ev.AppID, ev.Channel}
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := sh.channels[k]
	if subs == nil {
		return false
	}
	if v := subs.view; !ev.Added && len(ev.Member.RawID) == 0 && v != nil {
		ev.Member.RawID = v.members[ev.Member.UserID].RawID // the id's JSON type, as it joined
	}
	var frame []byte
	build := func() []byte {
		if frame == nil {
			frame = textFrame(memberPayload(ev))
		}
		return frame
	}
	// Joiners hold every member event; open sorts out those their list includes.
	change := memberChange{userID: ev.Member.UserID, added: ev.Added, seq: ev.Seq, rawID: ev.Member.RawID, info: ev.Member.Info}
	for c, g := range subs.gates {
		if g.holding && c.id != ev.Except {
			g.held = append(g.held, heldFrame{frame: build(), member: change})
		}
	}
	v := subs.view
	if v == nil || (ev.Seq != 0 && ev.Seq <= v.heard) {
		return false // no open subscriber yet, or heard already
	}
	if ev.Seq != 0 {
		last := v.heard
		if last == 0 {
			last = v.seq
		}
		gap = last != 0 && ev.Seq > last+1
		v.heard = ev.Seq
	}
	switch {
	case ev.Seq != 0 && ev.Seq <= v.seq:
		// Late: the view has it from a list; the subscribers whose lists are older do not.
	case !v.apply(ev.Member, ev.Added):
		if ev.Seq != 0 {
			v.seq = ev.Seq
		}
		return gap
	case ev.Seq != 0:
		v.seq = ev.Seq
	}
	n := 0
	for c, from := range v.from {
		if c.id != ev.Except && (ev.Seq == 0 || from < ev.Seq) {
			c.Send(build())
			n++
		}
	}
	subs.stats.Sent(n, n*len(frame))
	return gap
}

// hold makes c a subscriber of channel, if it is not one yet, as presence user userID, and
// holds the channel's frames for c until open (or leave).
func (h *Hub) hold(app, channel string, c *Conn, userID string) {
	k := channelKey{app, channel}
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := sh.subscribersOf(k, h)
	if subs.insert(c) {
		sh.count++
	}
	if subs.users == nil {
		subs.users = map[*Conn]string{}
	}
	subs.users[c] = userID
	if subs.view != nil {
		delete(subs.view.from, c) // a resubscribe: held until its new list
	}
	subs.sweepGates()
	if subs.gates == nil {
		subs.gates = map[*Conn]*gate{}
	}
	subs.gates[c] = &gate{holding: true}
}

// open ends what hold began: it queues first (subscription_succeeded with p's members) on c,
// then the frames held since hold, less the member events that p includes. With keep set the
// frames stay held after first, for settle (a cache channel). With first nil (the list
// could not be read) the held frames are queued as they are. It reports false if c is no
// longer a subscriber.
func (h *Hub) open(app, channel string, c *Conn, first []byte, p registry.Presence, keep bool) bool {
	k := channelKey{app, channel}
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := sh.channels[k]
	if subs == nil || subs.find(c) < 0 {
		return false
	}
	g := subs.gates[c]
	if g == nil || !g.holding {
		return false // not held: hold was not called, or a newer hold's open ran
	}
	held := g.held // no publisher holds g.mu: they need the read lock
	if first != nil {
		c.Send(first)
		heard := lastHeard(held)
		held = dropKnown(held, p)
		if subs.view == nil {
			// The view starts where c does: the list less the held leaves this node told
			// without Redis (unnumbered), which c gets after it, then the numbered events held.
			subs.view = newPresenceView(withLeaves(p, held))
			subs.view.follow(held)
			// One missing after the list makes the next event heard a gap.
			subs.view.heard = min(heard, subs.view.seq)
		} else if q := withLeaves(p, held); !subs.view.shows(q) {
			// A list as new as the view or newer, with the held leaves this node told without
			// Redis (unnumbered), is what c ends with: when the view differs, it comes to the
			// list, so an event that changes c's members is never taken for a repeat. They
			// differ when the view missed changes (events lost while Redis was away, or a
			// Redis that lost its state), or events up to the list are still on their way:
			// the other subscribers are told the difference, as by a resync. When they agree
			// nothing changes, and events still on their way are told one by one.
			subs.bringTo(app, channel, q)
		}
		subs.view.from[c] = p.Seq
	} else if subs.view != nil {
		subs.view.from[c] = subs.view.seq
	}
	if keep {
		g.held = held
		return true
	}
	g.holding, g.held = false, nil
	for _, f := range held {
		c.Send(f.frame)
	}
	subs.sweepGates()
	return true
}

// follow applies to a view just made from a member list the numbered member events held
// since, which this node heard before it had a view, in order and up to the first one
// missing: the next event heard follows them, and one missing makes the next a gap.
func (v *presenceView) follow(held []heldFrame) {
	for _, f := range held {
		m := f.member
		if m.userID == "" || m.seq == 0 || m.seq <= v.seq {
			continue
		}
		if m.seq != v.seq+1 {
			return
		}
		v.apply(registry.Member{UserID: m.userID, RawID: m.rawID, Info: m.info}, m.added)
		v.seq = m.seq
	}
}

// shows reports whether the view holds exactly p's members, when p is as new as the view or
// newer; an older p is not compared, and reports true (nothing to bring the view to).
func (v *presenceView) shows(p registry.Presence) bool {
	if p.Seq < v.seq || len(p.Members) != len(v.members) {
		return p.Seq < v.seq
	}
	for _, m := range p.Members {
		if cur, ok := v.members[m.UserID]; !ok || !bytes.Equal(cur.Info, m.Info) {
			return false
		}
	}
	return true
}

// withLeaves is p less the users that the unnumbered member_removed events of held remove
// (this node's own leaves, told while Redis was away).
func withLeaves(p registry.Presence, held []heldFrame) registry.Presence {
	left := map[string]bool{}
	for _, f := range held {
		if m := f.member; m.userID != "" && m.seq == 0 {
			left[m.userID] = !m.added
		}
	}
	if len(left) == 0 {
		return p
	}
	kept := make([]registry.Member, 0, len(p.Members))
	for _, m := range p.Members {
		if !left[m.UserID] {
			kept = append(kept, m)
		}
	}
	return registry.Presence{Seq: p.Seq, Members: kept}
}

// lastHeard is the number of the last numbered member event in held, 0 if none.
func lastHeard(held []heldFrame) uint64 {
	var last uint64
	for _, f := range held {
		if f.member.userID != "" && f.member.seq != 0 {
			last = f.member.seq
		}
	}
	return last
}

// dropKnown removes from held, in place, the member events that a client starting from p
// already has: those numbered up to p.Seq, and of the others not numbered, a member_added of
// a present user or a member_removed of an absent one.
func dropKnown(held []heldFrame, p registry.Presence) []heldFrame {
	var present map[string]bool
	kept := held[:0]
	for _, f := range held {
		if m := f.member; m.userID != "" {
			if m.seq != 0 && m.seq <= p.Seq {
				continue
			}
			if present == nil {
				present = make(map[string]bool, len(p.Members))
				for _, mem := range p.Members {
					present[mem.UserID] = true
				}
			}
			if m.seq == 0 && present[m.userID] == m.added {
				continue
			}
			present[m.userID] = m.added
		}
		kept = append(kept, f)
	}
	clear(held[len(kept):])
	return kept
}

// resync brings the view of channel to p, a member list read from the occupancy after the
// view went wrong or may have (events missed, state repaired): the difference is told to the
// open subscribers whose lists are older than p, and held for the joiners. A list older
// than the view changes nothing.
func (h *Hub) resync(app, channel string, p registry.Presence) {
	k := channelKey{app, channel}
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.channels[k].bringTo(app, channel, p)
}

// bringTo brings the view of channel to p, a member list read from the occupancy, as resync
// explains. Called with the shard's lock held.
func (subs *subscribers) bringTo(app, channel string, p registry.Presence) {
	if subs == nil || subs.view == nil || p.Seq < subs.view.seq {
		return
	}
	v := subs.view
	var frames [][]byte
	var changes []memberChange
	tell := func(m registry.Member, added bool) {
		ev := registry.MemberEvent{AppID: app, Channel: channel, Member: m, Added: added}
		frames = append(frames, textFrame(memberPayload(ev)))
		changes = append(changes, memberChange{userID: m.UserID, added: added, seq: p.Seq, rawID: m.RawID})
	}
	now := newPresenceView(p)
	for id, m := range v.members {
		if _, ok := now.members[id]; !ok {
			tell(registry.Member{UserID: id, RawID: m.RawID}, false)
		}
	}
	for _, m := range p.Members {
		if cur, ok := v.members[m.UserID]; !ok || !bytes.Equal(cur.Info, m.Info) {
			tell(m, true)
		}
	}
	// The subscribers told are now as of p: the events up to it still on their way (late)
	// are not told again.
	now.from, now.heard = v.from, max(v.heard, p.Seq)
	subs.view = now
	for c, from := range v.from {
		if from <= p.Seq {
			for _, f := range frames {
				c.Send(f)
				subs.stats.Sent(1, len(f))
			}
			now.from[c] = p.Seq
		}
	}
	for _, g := range subs.gates {
		if g.holding {
			for i, f := range frames {
				g.held = append(g.held, heldFrame{frame: f, member: changes[i]})
			}
		}
	}
}

// presenceChannels returns the presence channels that have a view on this node.
func (h *Hub) presenceChannels() []channelKey {
	var out []channelKey
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for k, subs := range sh.channels {
			if subs.view != nil {
				out = append(out, k)
			}
		}
		sh.mu.RUnlock()
	}
	return out
}
