package ws

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
)

// Conn is one client WebSocket connection. No goroutine belongs to an idle Conn: the poller
// hands it to a reading goroutine when bytes arrive, and a writing goroutine exists only
// while frames are queued for it.
type Conn struct {
	// Set by accept, never changed.
	srv *Server
	app *config.App
	id  string // socket id
	nc  net.Conn
	fd  int

	// Owned by the goroutine the poller handed the socket to; one at a time, under rmu.
	rmu       sync.Mutex
	rd        wsutil.Reader
	rateStart time.Time // start of the current rate-limiting window
	rateCount int       // messages in that window

	// Liveness, written by readers and the liveness sweep.
	controlPinger atomic.Bool  // the client sent control frames: ping it with control frames
	lastSeen      atomic.Int64 // unix nanoseconds of the last frame received
	pingedAt      atomic.Int64 // unix nanoseconds of the unanswered server ping; 0 if none

	// Subscription state, guarded by mu.
	mu       sync.Mutex
	channels map[string]*registry.Member // subscribed channel → presence member (nil elsewhere)
	userID   string                      // signed-in user id; "" before pusher:signin
	gone     bool                        // set once by release; no more subscriptions

	// Write state, guarded by wmu.
	wmu        sync.Mutex
	queue      net.Buffers // frames waiting for the writer
	spare      net.Buffers // the writer's previous batch, reused to avoid allocations
	queued     int         // bytes in queue
	writing    bool        // a writer goroutine owns the socket's write side
	closing    bool        // no frame is accepted after the final ones
	closeAfter bool        // release the connection once the queue is written
}

// ID returns the socket id.
func (c *Conn) ID() string { return c.id }

// Send queues frame for the client and never blocks. frame must not be modified afterwards;
// the same bytes may be queued on many connections. A connection whose queue passes the
// server's limit is dropped as a slow consumer (4100).
func (c *Conn) Send(frame []byte) {
	c.wmu.Lock()
	if c.closing {
		c.wmu.Unlock()
		return
	}
	if c.queued+len(frame) > c.srv.writeLimit {
		c.dropSlow()
		return
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	start := !c.writing
	c.writing = true
	c.wmu.Unlock()
	if start {
		c.srv.spawn(c.flush)
	}
}

// dropSlow disconnects a connection whose queue is full: the queued frames are dropped and
// replaced by a 4100 error and close frame, written if the client reads again before the
// write in progress times out, after which the connection is released either way. Called with c.wmu held; it
// unlocks it.
func (c *Conn) dropSlow() {
	c.queue = append(c.queue[:0], frameSlowError, frameSlowClose)
	c.queued = len(frameSlowError) + len(frameSlowClose)
	c.closing, c.closeAfter = true, true
	start := !c.writing
	c.writing = true
	c.wmu.Unlock()
	c.srv.slowConsumers.Add(1)
	c.srv.log.Warn("slow consumer dropped", "app_id", c.app.ID, "socket_id", c.id)
	// The write in progress, if any, keeps its deadline: cutting it mid-frame would leave the
	// client a broken stream instead of the 4100 close.
	if start {
		c.srv.spawn(c.flush)
	}
}

// close sends e as pusher:error and a close frame with the same code, then releases the
// connection once they are written (pusher-protocol.md §1.4).
func (c *Conn) close(e *Error) {
	c.closeWith(errorFrame(e), closeFrame(e.Code, e.Message))
}

// closeWith queues the final frames and releases the connection after writing them.
func (c *Conn) closeWith(frames ...[]byte) {
	c.wmu.Lock()
	if c.closing {
		c.wmu.Unlock()
		return
	}
	for _, f := range frames {
		c.queue = append(c.queue, f)
		c.queued += len(f)
	}
	c.closing, c.closeAfter = true, true
	start := !c.writing
	c.writing = true
	c.wmu.Unlock()
	if start {
		c.srv.spawn(c.flush)
	}
}

// flush writes queued frames in batches (one writev each) until the queue is empty. Only one
// flush runs per connection (c.writing).
func (c *Conn) flush() {
	for {
		c.wmu.Lock()
		if len(c.queue) == 0 {
			c.writing = false
			release := c.closeAfter
			c.wmu.Unlock()
			if release {
				c.release()
			}
			return
		}
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		c.queued = 0
		deadline := c.srv.writeTimeout
		if c.closeAfter {
			deadline = time.Second // final frames: do not wait long for a client going away
		}
		c.wmu.Unlock()

		keep := batch // WriteTo consumes batch; keep holds the slice to clear and reuse
		_ = c.nc.SetWriteDeadline(time.Now().Add(deadline))
		_, err := batch.WriteTo(c.nc)
		clear(keep) // drop references to the shared frames
		c.wmu.Lock()
		c.spare = keep[:0]
		c.wmu.Unlock()
		if err != nil {
			c.wmu.Lock()
			c.writing = false
			c.wmu.Unlock()
			c.release()
			return
		}
	}
}

// release tears the connection down once: no more frames, the socket leaves the poller and
// is closed, and every subscription is removed (presence members leave as usual).
func (c *Conn) release() {
	c.wmu.Lock()
	c.closing = true
	c.queue, c.queued = nil, 0
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

	s := c.srv
	s.poller.Remove(c.fd, c)
	_ = c.nc.Close()
	if userID != "" {
		s.hub.remove(c.app.ID, registry.UserChannelPrefix+userID, c)
	}
	for ch := range channels {
		s.leave(c, ch)
	}
	s.forget(c)
}
