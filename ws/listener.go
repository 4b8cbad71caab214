package ws

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// acceptBackoffMin and acceptBackoffMax bound the wait between failed accepts; they are
	// net/http's.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

var peekReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 512) }}

// Listener wraps the public listener: a new connection (with Params.TLS, once its TLS
// handshake is done) whose first request is GET {prefix}/app/... is upgraded right here with gobwas/ws's zero-copy Upgrader (no
// net/http request, no hijack: a few hundred bytes of garbage per upgrade instead of
// about 13 KiB) and handed to the poller; every other connection is passed on, unread bytes
// included, to the returned listener, which the HTTP server serves (API, /up, and upgrades
// that arrive on a kept-alive connection through the chi route).
//
// The server owns ln from now on: closing the returned listener or Shutdown closes it.
// A connection's first request must arrive whole, and the 101 be written, within the
// handshake timeout; the request line and headers may take at most MaxHeaderBytes (431
// past it). At most MaxHandshakes connections are between accept and upgrade (or hand-off)
// at a time: past it the next one waits briefly for a slot, then is closed. Accept errors
// that pass (out of file descriptors, an aborted connection) are retried with a back-off of
// 5 ms doubling to 1 s, as net/http does, and logged once per burst.
func (s *Server) Listener(ln net.Listener, prefix string) net.Listener {
	l := &peekListener{Listener: ln, srv: s, match: []byte("GET " + strings.TrimRight(prefix, "/") + "/app/"),
		conns: make(chan net.Conn), done: make(chan struct{})}
	s.acceptMu.Lock()
	defer s.acceptMu.Unlock()
	if !s.accepted.Load() {
		_ = l.Close()
		return l
	}
	s.listeners = append(s.listeners, l)
	s.spawn(l.acceptLoop)
	return l
}

// peekListener sorts accepted connections into WebSocket upgrades and everything else.
type peekListener struct {
	net.Listener
	srv   *Server
	match []byte

	conns chan net.Conn // non-WebSocket connections for the HTTP server; never closed
	done  chan struct{} // closed once by Close
	once  sync.Once
	err   error // set before done is closed
}

func (l *peekListener) acceptLoop() {
	log := l.srv.log
	backoff := acceptBackoff{log: log}
	dropped := 0 // connections closed for want of a handshake slot, this burst
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			if !acceptRetryable(err) {
				l.close(err)
				return
			}
			t := time.NewTimer(backoff.failed(err))
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return
			}
			continue
		}
		backoff.succeeded()
		ok, waited := l.srv.hs.acquire(l.done)
		if !ok {
			_ = nc.Close()
			if dropped == 0 {
				log.Warn("handshake limit reached: new connections are closed until handshakes finish",
					"max_handshakes", cap(l.srv.hs.slots))
			}
			dropped++
			continue
		}
		if dropped > 0 && !waited {
			log.Info("handshake slots free again", "closed_connections", dropped)
			dropped = 0
		}
		l.srv.spawn(func() { l.sort(nc) })
	}
}

// acceptBackoff paces the retries of a failing accept, and logs a burst of failures once
// when it starts and once when it ends.
type acceptBackoff struct {
	log      *slog.Logger
	wait     time.Duration // 0 while accepts succeed
	failures int
	since    time.Time
}

// failed records a failed accept and returns how long to wait before the next.
func (b *acceptBackoff) failed(err error) time.Duration {
	if b.wait == 0 {
		b.wait, b.since = acceptBackoffMin, time.Now()
		b.log.Warn("accept failing, retrying with back-off", "err", err)
	} else {
		b.wait = min(2*b.wait, acceptBackoffMax)
	}
	b.failures++
	return b.wait
}

// succeeded records a successful accept.
func (b *acceptBackoff) succeeded() {
	if b.wait == 0 {
		return
	}
	b.log.Info("accepting again", "failed_accepts", b.failures, "after", time.Since(b.since).Round(time.Millisecond))
	b.wait, b.failures = 0, 0
}

// acceptRetryable reports whether an accept error passes with time (net/http's "temporary"
// accept errors): out of descriptors or buffers, or a connection that went away in the
// backlog.
func acceptRetryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, errno := range []unix.Errno{unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM,
		unix.ECONNABORTED, unix.ECONNRESET, unix.EINTR, unix.EAGAIN, unix.EPROTO} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// sort peeks at the first bytes of nc and upgrades it or hands it to the HTTP server. It
// holds a handshake slot, taken by acceptLoop, until it returns. A TLS connection's
// handshake comes first, within the same deadline.
func (l *peekListener) sort(nc net.Conn) {
	s := l.srv
	defer s.hs.release()
	deadline := time.Now().Add(s.handshakeTimeout)
	if !s.hs.begin(nc, deadline) {
		_ = nc.Close() // shutting down
		return
	}
	defer s.hs.end(nc)
	defer s.closeOnPanic("handshake", nc)
	if s.tlsConfig != nil {
		tc, ok := s.handshakeTLS(nc)
		if !ok {
			return
		}
		nc = tc // the TLS handshake is done within the same deadline
	}
	br := peekReaders.Get().(*bufio.Reader)
	br.Reset(nc)
	defer func() {
		br.Reset(nil)
		peekReaders.Put(br)
	}()
	head, err := br.Peek(len(l.match))
	switch {
	case err == nil && bytes.Equal(head, l.match):
		s.upgrade(nc, br, deadline)
		return
	case err != nil && (br.Buffered() == 0 || !errors.Is(err, io.EOF)):
		// The deadline passed, Shutdown cut the handshake, the connection failed, or the
		// client left without a byte.
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{}) // the HTTP server sets its own
	rest := make([]byte, br.Buffered())
	_, _ = io.ReadFull(br, rest)
	select {
	case <-l.done:
		_ = nc.Close()
		return
	default:
	}
	select {
	case l.conns <- &prefixedConn{Conn: nc, prefix: rest}:
	case <-l.done:
		_ = nc.Close()
	}
}

// Accept returns the next connection that is not a WebSocket upgrade.
func (l *peekListener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, l.err
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

// Close closes the underlying listener.
func (l *peekListener) Close() error {
	err := l.Listener.Close()
	l.close(net.ErrClosed)
	return err
}

func (l *peekListener) close(err error) {
	l.once.Do(func() {
		l.err = err
		close(l.done)
	})
}

// prefixedConn replays the bytes peeked from a connection before reading on.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// unwrapConn returns the socket under a connection the HTTP server hijacked for an upgrade
// on a kept-alive connection, so the poller can watch its descriptor. ok is false while
// peeked bytes are still unread: they would be lost to a reader of the raw socket.
func unwrapConn(nc net.Conn) (raw net.Conn, ok bool) {
	pc, wrapped := nc.(*prefixedConn)
	if !wrapped {
		return nc, true
	}
	return pc.Conn, len(pc.prefix) == 0
}
