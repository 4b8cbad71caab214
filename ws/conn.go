package ws

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry/metrics"
)

// Conn is one client WebSocket connection. No goroutine belongs to an idle Conn: the poller
// hands it to a reading goroutine when bytes arrive; queued frames are written by the
// server's writer pool with non-blocking writes, and only a socket whose buffer is full
// gets a goroutine of its own, which waits for it to drain. Every connection pays for its
// size: it is 288 bytes (filling the 288-byte size class of Go's allocator) on 64-bit platforms.
type Conn struct {
	// Set by accept, never changed but app, which a reload of the apps may replace with the
	// app's new settings (see App).
	srv *Server
	app atomic.Pointer[config.App]
	id  string     // socket id
	nc  net.Conn   // the tls.Conn of a TLS connection
	fd  int        // the socket's descriptor
	tls *tlsSocket // nil for a plain connection
	// stats is the app's metrics; nil counts nothing.
	stats *metrics.App

	// Owned by the goroutine the poller handed the socket to; one at a time, under rmu.
	rmu             sync.Mutex
	rateStart       int64  // unix nanoseconds: start of the current rate-limiting window
	rateCount       int32  // messages in that window, counted up to one past the limit
	logSuppressed   uint32 // lines logClient turned to debug since its last one
	clientEventsTAT int64  // max_client_events_per_second: see allowClientEvent
	logTAT          int64  // the log lines this client causes: see logClient
	// unread holds the bytes a wake-up read past its last frame (see readable); nil when none.
	unread *bufio.Reader

	// Liveness, written by readers and the liveness sweep.
	controlPinger atomic.Bool  // the client sent control frames: ping it with control frames
	lastSeen      atomic.Int64 // unix nanoseconds of the last frame received
	pingedAt      atomic.Int64 // unix nanoseconds of the unanswered server ping; 0 if none
	// unauthorizedSince is when the connection opened, in unix nanoseconds, while its app's
	// user_authentication_timeout applies and it is not yet authorized; 0 otherwise.
	unauthorizedSince atomic.Int64

	// Subscription state, guarded by mu.
	mu       sync.Mutex
	channels subscriptions // the channels subscribed to
	userID   string        // signed-in user id; "" before pusher:signin
	gone     bool          // set once by release; no more subscriptions

	// Socket lifetime for raw writes and the poller registration: fdClosed is set under
	// fdmu before the socket closes.
	fdmu     sync.Mutex
	fdClosed bool

	// Write state, guarded by wmu. At most one of scheduled and writing is set; when
	// neither is, the queue is empty.
	wmu        sync.Mutex
	queue      net.Buffers // frames not yet written; the first may be a partly written rest
	spare      net.Buffers // an empty array to swap with queue while a writer writes
	queued     int         // bytes in queue (a batch being written counts again if put back)
	cut        bool        // queue[0] is the rest of a partly written frame
	scheduled  bool        // waiting in the writer pool
	writing    bool        // a blocking writer goroutine (drain) owns the write side
	closing    bool        // no frame is accepted after the final ones
	closeAfter bool        // release the connection once the queue is written
	closeCode  uint16      // the code of the close frame queued, for the debug log; 0 if none
}

// ID returns the socket id.
func (c *Conn) ID() string { return c.id }

// App returns the connection's app with its current settings: a reload that changes the
// app's secret or limits applies them to what the connection does next. Its ID never changes.
func (c *Conn) App() *config.App { return c.app.Load() }

// Send queues frame for the client and never blocks. frame must not be modified afterwards;
// the same bytes may be queued on many connections. Frames queued while the connection waits
// for a writer leave in one writev. A connection whose queue passes the server's limit is
// dropped as a slow consumer (4100).
func (c *Conn) Send(frame []byte) {
	c.stats.Sent(1, len(frame))
	c.send(frame, false)
}

// send is Send; with inline set, an idle connection's frame is written at once with a
// non-blocking write instead of being handed to the writer pool.
func (c *Conn) send(frame []byte, inline bool) {
	c.wmu.Lock()
	if c.closing {
		c.wmu.Unlock()
		return
	}
	if c.queued+len(frame) > c.srv.writeLimit {
		c.dropSlow()
		return
	}
	if c.srv.debug {
		c.logQueued(frame)
	}
	if inline && c.tls == nil && !c.scheduled && !c.writing {
		n, err := c.writeOne(frame)
		if err == nil && n == len(frame) {
			c.wmu.Unlock()
			return
		}
		frame = frame[n:] // the socket is full or failed: the pool writes the rest, or fails
		c.cut = n > 0
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	c.scheduleLocked()
}

// scheduleLocked hands c to the writer pool unless a writer already has it. Called with
// c.wmu held; it unlocks it.
func (c *Conn) scheduleLocked() {
	idle := !c.scheduled && !c.writing
	c.scheduled = c.scheduled || idle
	c.wmu.Unlock()
	if idle {
		c.srv.writers.push(c)
	}
}

// dropSlow disconnects a connection whose queue is full: the queued frames are dropped and
// replaced by a 4100 error and close frame, written if the client reads again before the
// write in progress times out, after which the connection is released either way. The rest
// of a partly written frame stays in front of them, so the client never reads half a frame
// followed by other bytes. Called with c.wmu held; it unlocks it.
func (c *Conn) dropSlow() {
	keep := 0
	if c.cut {
		keep = 1
	}
	clear(c.queue[keep:])
	c.queue = append(c.queue[:keep], frameSlowError, frameSlowClose)
	c.queued = len(frameSlowError) + len(frameSlowClose)
	if c.cut {
		c.queued += len(c.queue[0])
	}
	c.closing, c.closeAfter = true, true
	c.closeCode = uint16(errSlowConsumer.Code)
	c.srv.slowConsumers.Add(1)
	c.srv.log.Warn("slow consumer dropped", "app_id", c.App().ID, "socket_id", c.id)
	if c.srv.debug {
		c.logQueued(frameSlowError)
		c.logQueued(frameSlowClose)
	}
	c.scheduleLocked()
	c.stats.SlowConsumer()
	c.stats.Closed(errSlowConsumer.Code)
}

// close sends e as pusher:error and a close frame with the same code, then releases the
// connection once they are written (Pusher's WebSocket protocol docs).
func (c *Conn) close(e *Error) {
	c.closeWith(e.Code, errorFrame(e), closeFrame(e.Code, e.Message))
}

// closeWith queues the final frames, the last a close frame with code, and releases the
// connection after writing them.
func (c *Conn) closeWith(code int, frames ...[]byte) {
	c.wmu.Lock()
	if c.closing {
		c.wmu.Unlock()
		return
	}
	for _, f := range frames {
		c.queue = append(c.queue, f)
		c.queued += len(f)
		if c.srv.debug {
			c.logQueued(f)
		}
	}
	c.closing, c.closeAfter = true, true
	c.closeCode = closeCodeOf(frames[len(frames)-1])
	c.scheduleLocked()
	c.stats.Closed(code)
}

// writeQueued runs on a writer-pool goroutine: it takes what is queued and writes it with
// one non-blocking writev, without holding c.wmu, so fan-out keeps queueing (and frames
// coalesce) while the system call runs. What the socket cannot take now goes to a drain
// goroutine. iov is the pool goroutine's scratch space.
func (c *Conn) writeQueued(iov *[]unix.Iovec) {
	c.wmu.Lock()
	if c.writing || len(c.queue) == 0 {
		c.scheduled = false
		release := c.closeAfter && !c.writing
		c.wmu.Unlock()
		if release {
			c.release()
		}
		return
	}
	batch, taken, cut := c.queue, c.queued, c.cut
	c.queue, c.spare = c.spare, nil // c.scheduled stays set: Send only appends meanwhile
	c.queued, c.cut = 0, false
	c.wmu.Unlock()

	n, err := c.writeSocket(batch, iov)

	c.wmu.Lock()
	c.queued += taken - n
	rest, cut := unwritten(batch, n, cut)
	if len(rest) > 0 {
		// The rest goes before what was queued meanwhile (which a slow consumer's drop may
		// have replaced with the final frames: they follow the rest).
		newer := c.queue
		c.queue, c.cut = append(rest, newer...), cut
		clear(newer)
		c.spare = reusable(newer)
	} else {
		c.spare = reusable(batch)
	}
	switch {
	case err != nil:
		c.scheduled, c.closing = false, true
		c.wmu.Unlock()
		c.release()
	case len(rest) > 0 || c.tls != nil && c.tls.pending():
		c.scheduled, c.writing = false, true // the socket buffer is full: wait on a goroutine
		c.wmu.Unlock()
		c.srv.spawn(c.drain)
	case len(c.queue) > 0:
		c.wmu.Unlock()
		c.srv.writers.push(c) // queued while writing: go round again
	default:
		c.scheduled = false
		release := c.closeAfter
		c.wmu.Unlock()
		if release {
			c.release()
		}
	}
}

// writeSocket writes batch with one non-blocking writev. fdmu keeps release from closing
// the socket (and its number being reused) during the system call.
func (c *Conn) writeSocket(batch net.Buffers, iov *[]unix.Iovec) (int, error) {
	if c.fd < 0 {
		return 0, nil // not a pollable socket (tests): drain writes it
	}
	c.fdmu.Lock()
	defer c.fdmu.Unlock()
	if c.fdClosed {
		return 0, net.ErrClosed
	}
	if c.tls != nil {
		return c.writeTLS(batch)
	}
	return writev(c.fd, batch, iov)
}

// writeTLS seals batch and writes what the socket takes of the records with non-blocking
// writes. The whole batch counts as written: what the socket did not take waits, sealed, for
// the drain (tlsSocket.pending).
func (c *Conn) writeTLS(batch net.Buffers) (int, error) {
	if err := c.tls.seal(batch); err != nil {
		return 0, err
	}
	if _, err := c.tls.flush(c.fd); err != nil {
		return 0, err
	}
	n := 0
	for _, b := range batch {
		n += len(b)
	}
	return n, nil
}

// writeOne writes frame with one non-blocking write, under the same rule as writeSocket.
func (c *Conn) writeOne(frame []byte) (int, error) {
	if c.fd < 0 {
		return 0, nil
	}
	c.fdmu.Lock()
	defer c.fdmu.Unlock()
	if c.fdClosed {
		return 0, net.ErrClosed
	}
	for {
		n, err := unix.Write(c.fd, frame)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		default:
			return 0, err
		}
	}
}

// keptQueueCap is the largest queue array a connection keeps once it is empty. A burst (a
// presence channel's member_added frames, say) grows the array; keeping it would cost every
// connection that once had a burst its size for as long as it stays connected.
const keptQueueCap = 4

// reusable returns the emptied array of q for reuse, or nil if it is bigger than
// keptQueueCap. q's buffers must already be cleared.
func reusable(q net.Buffers) net.Buffers {
	if cap(q) > keptQueueCap {
		return nil
	}
	return q[:0]
}

// unwritten drops the first n bytes of batch, clearing the frames written in full, and
// returns what is left, in batch's own array, and whether its first buffer is the rest of a
// partly written frame; cut tells whether batch's first buffer already was.
func unwritten(batch net.Buffers, n int, cut bool) (net.Buffers, bool) {
	k := 0
	for k < len(batch) && n >= len(batch[k]) {
		n -= len(batch[k])
		k++
	}
	rest := copy(batch, batch[k:])
	clear(batch[rest:]) // drop references to the shared frames
	batch = batch[:rest]
	if n > 0 {
		batch[0] = batch[0][n:]
	}
	return batch, rest > 0 && (n > 0 || cut && k == 0)
}

// drain writes the queue with blocking writes (under a write deadline) until it is empty,
// for a socket whose buffer was full. It owns the write side while c.writing is set.
func (c *Conn) drain() {
	defer c.closeOnPanic("drain")
	var batch net.Buffers
	for {
		c.wmu.Lock()
		if len(c.queue) == 0 && (c.tls == nil || !c.tls.pending()) {
			c.writing = false
			release := c.closeAfter
			c.wmu.Unlock()
			if release {
				c.release()
			}
			return
		}
		batch = append(batch[:0], c.queue...)
		clear(c.queue)
		c.queue, c.queued, c.cut = reusable(c.queue), 0, false // the batch no longer counts against the limit
		deadline := c.srv.writeTimeout
		if c.closeAfter {
			deadline = time.Second // final frames: do not wait long for a client going away
		}
		c.wmu.Unlock()

		keep := batch // WriteTo consumes batch; keep holds the slice to clear and reuse
		err := c.writeBlocking(batch, deadline)
		clear(keep)
		batch = keep[:0]
		if err != nil {
			c.wmu.Lock()
			c.writing, c.closing = false, true
			c.wmu.Unlock()
			c.release()
			return
		}
	}
}

// writeBlocking writes batch, after the sealed records still unwritten of a TLS connection,
// with blocking writes, each within timeout.
func (c *Conn) writeBlocking(batch net.Buffers, timeout time.Duration) error {
	if c.tls != nil {
		if len(batch) > 0 {
			if err := c.tls.seal(batch); err != nil {
				return err
			}
		}
		return c.tls.flushBlocking(timeout)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := batch.WriteTo(c.nc)
	return err
}

// closeSocket closes the socket. A TLS connection's socket is closed under its tls.Conn:
// the WebSocket close frame has said goodbye, and a close_notify would only be sealed into a
// buffer nobody writes.
func (c *Conn) closeSocket() {
	if c.tls != nil {
		_ = c.tls.tr.Conn.Close()
		return
	}
	_ = c.nc.Close()
}

// watch registers the socket with the poller, unless the connection was released already
// (its writes failed, or the server shut down, before accept got here): the socket is then
// closed and its number may belong to another file.
func (c *Conn) watch() error {
	c.fdmu.Lock()
	defer c.fdmu.Unlock()
	if c.fdClosed {
		return nil
	}
	return c.srv.poller.Add(c.fd, c)
}
