package ws

import (
	"context"
	"sync"
	"time"

	"github.com/reverbd/reverbd/registry"
)

// closeAbnormal is the close code (RFC 6455 section 7.4.1) a connection counts under when it
// ended without a close frame: the client went away, or a read or write failed.
const closeAbnormal = 1006

// releaseTimeout bounds the shared-state part of one release, from the release: every
// unsubscribe and the disconnect it makes in the shared occupancy.
const releaseTimeout = 5 * time.Second

// maxReleasers is the most goroutines removing released connections from the shared
// occupancy at once; more releases wait in line (see releaser).
const maxReleasers = 32

// release tears the connection down once. The local part is done at once, on the calling
// goroutine (a reader, a writer, the liveness sweep): no more frames, the socket leaves the
// poller and is closed, and the connection leaves every channel of this node's hub. The
// shared part (the occupancy's unsubscribes and disconnect, and member_removed for the
// presence members that left with it) waits for Redis, so it is handed to the server's
// releasers; Shutdown waits for it (s.live).
func (c *Conn) release() {
	c.wmu.Lock()
	closeSent := c.closeAfter // a close frame was queued, and its code counted
	c.closing = true
	c.queue, c.queued, c.cut = nil, 0, false
	closeCode := c.closeCode
	c.wmu.Unlock()

	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	c.gone = true
	channels := c.channels
	c.channels = nil
	userID := c.userID
	c.mu.Unlock()
	if c.srv.debug {
		c.logClosed(closeCode)
	}
	if !closeSent {
		c.stats.Closed(closeAbnormal)
	}
	c.stats.Disconnected()

	s := c.srv
	c.fdmu.Lock() // watch registers the socket under fdmu: it is done, or will not be
	c.fdClosed = true
	s.poller.Remove(c.fd, c)
	c.closeSocket()
	c.fdmu.Unlock()
	if userID != "" {
		s.hub.remove(c.App().ID, registry.UserChannelPrefix+userID, c)
	}
	for _, sub := range channels {
		s.hub.leave(c.App().ID, sub.channel, c)
	}
	s.conns.remove(c)
	s.releases.push(released{c: c, channels: channels, at: time.Now()})
}

// releaser runs the shared part of releases on at most maxReleasers goroutines, started as
// releases arrive and gone when none is waiting, each counted in the server's WaitGroup.
type releaser struct {
	srv     *Server
	mu      sync.Mutex
	queue   []released // oldest first
	head    int        // queue[head:] is still to be done
	workers int
}

// released is a released connection waiting for its shared part: the subscriptions it had,
// and when it was released.
type released struct {
	c        *Conn
	channels subscriptions
	at       time.Time
}

// push queues a released connection's shared part.
func (r *releaser) push(rel released) {
	r.mu.Lock()
	r.queue = append(r.queue, rel)
	start := r.workers < maxReleasers
	if start {
		r.workers++
	}
	r.mu.Unlock()
	if start {
		r.srv.spawn(r.run)
	}
}

func (r *releaser) run() {
	for {
		r.mu.Lock()
		if r.head == len(r.queue) {
			r.queue, r.head = r.queue[:0], 0
			if cap(r.queue) > 1024 {
				r.queue = nil // a storm's array is not kept
			}
			r.workers--
			r.mu.Unlock()
			return
		}
		next := r.queue[r.head]
		r.queue[r.head] = released{}
		r.head++
		r.mu.Unlock()
		r.srv.forget(next)
	}
}

// forget removes a released connection from the shared occupancy: each of its subscriptions
// (presence members leave as usual), then the connection itself, within releaseTimeout of
// the release. A call that fails is left to the occupancy: a shared one records the failure
// and writes its node's state back, announcing the members that left, once Redis answers.
func (s *Server) forget(rel released) {
	defer s.live.Done()
	c := rel.c
	ctx, cancel := context.WithDeadline(s.ctx, rel.at.Add(releaseTimeout))
	defer cancel()
	for _, sub := range rel.channels {
		s.unrecord(ctx, c, sub)
	}
	s.signOut(ctx, c)
	_ = s.occupancy.Disconnect(ctx, c.App().ID, c.id)
}
