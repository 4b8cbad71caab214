package registry

import (
	"slices"
	"sync"
)

// nodeBook is a node's own record of what it holds: every connection and subscription that
// its Occupancy calls made and did not undo, whether Redis took them or not. It is what the
// node writes back when Redis lost its state (see reassert), and it changes under the same
// barrier as Redis, so the two agree whenever no write failed.
type nodeBook struct {
	mu      sync.Mutex
	sockets map[bookKey]*bookSocket
	// users is the user id each signed-in socket is signed in as (see OnlineEvent); created
	// when needed.
	users map[bookKey]string
	// dirty is set when a write failed: Redis may hold what the book does not, or miss what
	// it holds.
	dirty bool
}

type bookKey struct{ app, socket string }

type bookSocket struct {
	connected bool
	subs      []bookSub
}

type bookSub struct {
	channel string
	member  *Member // nil on channels other than presence ones
}

func newNodeBook() *nodeBook {
	return &nodeBook{sockets: map[bookKey]*bookSocket{}}
}

// socket returns the entry of (app, socket), creating it. Called with b.mu held.
func (b *nodeBook) socket(app, socket string) *bookSocket {
	k := bookKey{app, socket}
	s := b.sockets[k]
	if s == nil {
		s = &bookSocket{}
		b.sockets[k] = s
	}
	return s
}

// drop forgets the entry of k once it holds nothing. Called with b.mu held.
func (b *nodeBook) drop(k bookKey, s *bookSocket) {
	if !s.connected && len(s.subs) == 0 {
		delete(b.sockets, k)
	}
}

func (b *nodeBook) connect(app, socket string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.socket(app, socket).connected = true
}

func (b *nodeBook) disconnect(app, socket string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := bookKey{app, socket}
	if s := b.sockets[k]; s != nil {
		s.connected = false
		b.drop(k, s)
	}
}

func (b *nodeBook) subscribe(app, channel, socket string, m *Member) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.socket(app, socket)
	if !slices.ContainsFunc(s.subs, func(sub bookSub) bool { return sub.channel == channel }) {
		s.subs = append(s.subs, bookSub{channel: channel, member: m})
	}
}

// unsubscribe forgets the subscription.
func (b *nodeBook) unsubscribe(app, channel, socket string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := bookKey{app, socket}
	s := b.sockets[k]
	if s == nil {
		return
	}
	if i := slices.IndexFunc(s.subs, func(sub bookSub) bool { return sub.channel == channel }); i >= 0 {
		s.subs = slices.Delete(s.subs, i, i+1)
		b.drop(k, s)
	}
}

// failed records that a write may not have reached Redis, or may have reached it unseen.
func (b *nodeBook) failed() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dirty = true
}

func (b *nodeBook) isDirty() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dirty
}

// begin starts writing the book back: it clears the dirty flag and takes the keys of every
// socket. If the write-back fails, undo sets the flag again.
func (b *nodeBook) begin() (keys []bookKey, undo func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dirty = false
	keys = make([]bookKey, 0, len(b.sockets))
	for k := range b.sockets {
		keys = append(keys, k)
	}
	return keys, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.dirty = true
	}
}

// lookup returns a copy of the entry of k, or a zero one when the book no longer has it.
func (b *nodeBook) lookup(k bookKey) bookSocket {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sockets[k]
	if s == nil {
		return bookSocket{}
	}
	return bookSocket{connected: s.connected, subs: slices.Clone(s.subs)}
}

// hasConn reports whether the book holds socket as connected.
func (b *nodeBook) hasConn(app, socket string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sockets[bookKey{app, socket}]
	return s != nil && s.connected
}

// hasSub reports whether the book holds the subscription of socket to channel.
func (b *nodeBook) hasSub(app, channel, socket string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sockets[bookKey{app, socket}]
	return s != nil && slices.ContainsFunc(s.subs, func(sub bookSub) bool { return sub.channel == channel })
}
