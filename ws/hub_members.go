package ws

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"sync"

	"github.com/reverbd/reverbd/registry"
)

// Presence members without a lock across Redis. A presence subscriber must see its member
// list, then each member_added and member_removed that happened after the list was read, in
// the order they happened; the shared occupancy decides who is first and last in Redis, which
// may be slow or paused. Nothing that queues frames waits for it:
//
//   - A subscriber's frames on the channel are held (Hub.hold) from before its subscription
//     is recorded and its member list is read, until Hub.open queues subscription_succeeded
//     with the list and then the held frames. A held member event that the list already
//     shows (a member_added of a listed user, a member_removed of an unlisted one) is dropped;
//     the others go out in order, so the client ends with the members there are.
//   - The shared-state changes of one user on one channel (a subscribe with its member list,
//     a leave) are made one at a time, under Hub.lockMember, from the occupancy call until
//     the member event is queued here and for the other nodes: member_added and
//     member_removed of a user go out in the order the occupancy decided them. Client
//     events and deliveries never wait for this lock; other users only when they share its
//     stripe.
//   - A repair of the shared state (another node's members reaped, this node's state written
//     back) announces its member events under Hub.lockPresence, which waits for the member
//     changes of the channel in progress and holds off new ones, so its events and this
//     node's own go out in the order the occupancy made them. Member changes share the
//     channel's lock among themselves; client events and deliveries never take it.

// memberChange is a presence member event: userID joined (added) or left the channel. The
// zero value is no member event.
type memberChange struct {
	userID string
	added  bool
}

var memberEventPrefix = []byte(`{"event":"pusher_internal:member_`)

// parseMemberChange reads the member change of a member_added or member_removed payload made
// by a node (eventPayload); zero for any other payload.
func parseMemberChange(payload []byte) memberChange {
	if !bytes.HasPrefix(payload, memberEventPrefix) {
		return memberChange{}
	}
	var ev struct {
		Event string `json:"event"`
		Data  string `json:"data"`
	}
	if json.Unmarshal(payload, &ev) != nil {
		return memberChange{}
	}
	var data struct {
		UserID json.RawMessage `json:"user_id"`
	}
	if json.Unmarshal([]byte(ev.Data), &data) != nil {
		return memberChange{}
	}
	id, ok := idString(data.UserID)
	if !ok {
		return memberChange{}
	}
	switch ev.Event {
	case "pusher_internal:member_added":
		return memberChange{userID: id, added: true}
	case "pusher_internal:member_removed":
		return memberChange{userID: id}
	}
	return memberChange{}
}

// The presence locks are striped: a channel's lock is one of presenceStripes read-write
// locks, a member's one of memberStripes locks, chosen by hash. Two channels or members that
// share a stripe only wait for each other, which changes no order; no goroutine holds two
// member stripes, nor takes a channel stripe while holding one.
const (
	presenceStripes = 256
	memberStripes   = 1024
)

// lockMember locks the shared-state changes of userID on a presence channel, sharing the
// channel's lock with the changes of other users, and returns the unlock.
func (h *Hub) lockMember(app, channel, userID string) memberUnlock {
	cl := &h.presence[h.index(channelKey{app, channel})%presenceStripes]
	var mh maphash.Hash
	mh.SetSeed(h.seed)
	mh.WriteString(app)
	mh.WriteByte(0)
	mh.WriteString(channel)
	mh.WriteByte(0)
	mh.WriteString(userID)
	ml := &h.members[mh.Sum64()%memberStripes]
	cl.RLock()
	ml.Lock()
	return memberUnlock{cl, ml}
}

// memberUnlock undoes a lockMember.
type memberUnlock struct {
	channel *sync.RWMutex
	member  *sync.Mutex
}

func (u memberUnlock) unlock() {
	u.member.Unlock()
	u.channel.RUnlock()
}

// lockPresence locks out the member changes of a presence channel, waiting for those in
// progress, and returns the unlock. A repair of the shared state announces its member
// events under it.
func (h *Hub) lockPresence(app, channel string) (unlock func()) {
	cl := &h.presence[h.index(channelKey{app, channel})%presenceStripes]
	cl.Lock()
	return cl.Unlock
}

// hold makes c a subscriber of channel, if it is not one yet, as presence user userID, and
// holds the channel's frames for c until open (or leave).
func (h *Hub) hold(app, channel string, c *Conn, userID string) {
	k := channelKey{app, channel}
	sh := h.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	subs := sh.subscribersOf(k, h.metrics)
	if subs.insert(c) {
		sh.count++
	}
	if subs.users == nil {
		subs.users = map[*Conn]string{}
	}
	subs.users[c] = userID
	subs.sweepGates()
	if subs.gates == nil {
		subs.gates = map[*Conn]*gate{}
	}
	subs.gates[c] = &gate{holding: true}
}

// open ends what hold began: it queues first (subscription_succeeded with members, the
// member list) on c, then the frames held since hold, less the member events that members
// already shows. With keep set the frames stay held after first, for settle (a cache
// channel). With first nil (the list could not be read) the held frames are queued as they
// are. It reports false if c is no longer a subscriber.
func (h *Hub) open(app, channel string, c *Conn, first []byte, members []registry.Member, keep bool) bool {
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
		held = dropKnown(held, members)
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

// dropKnown removes from held, in place, the member events that change nothing for a client
// that starts from members: a member_added of a present user, a member_removed of an absent
// one.
func dropKnown(held []heldFrame, members []registry.Member) []heldFrame {
	var present map[string]bool
	kept := held[:0]
	for _, f := range held {
		if m := f.member; m.userID != "" {
			if present == nil {
				present = make(map[string]bool, len(members))
				for _, mem := range members {
					present[mem.UserID] = true
				}
			}
			if present[m.userID] == m.added {
				continue
			}
			present[m.userID] = m.added
		}
		kept = append(kept, f)
	}
	clear(held[len(kept):])
	return kept
}
