package ws

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// handshakeTimeout bounds how long a new connection may take to send its first request.
const handshakeTimeout = 10 * time.Second

var peekReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 512) }}

// Listener wraps the public listener: a new connection whose first request is
// GET {prefix}/app/... is upgraded right here with gobwas/ws's zero-copy Upgrader (no
// net/http request, no hijack: a few hundred bytes of garbage per upgrade instead of
// about 13 KiB) and handed to the poller; every other connection is passed on, unread bytes
// included, to the returned listener, which the HTTP server serves (API, /up, and upgrades
// that arrive on a kept-alive connection through the chi route). Closing the returned
// listener closes ln.
func (s *Server) Listener(ln net.Listener, prefix string) net.Listener {
	l := &peekListener{Listener: ln, srv: s, match: []byte("GET " + strings.TrimRight(prefix, "/") + "/app/"),
		conns: make(chan net.Conn), done: make(chan struct{})}
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
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.close(err)
			return
		}
		l.srv.spawn(func() { l.sort(nc) })
	}
}

// sort peeks at the first bytes of nc and upgrades it or hands it to the HTTP server.
func (l *peekListener) sort(nc net.Conn) {
	br := peekReaders.Get().(*bufio.Reader)
	br.Reset(nc)
	defer func() {
		br.Reset(nil)
		peekReaders.Put(br)
	}()
	_ = nc.SetReadDeadline(time.Now().Add(handshakeTimeout))
	head, err := br.Peek(len(l.match))
	if err == nil && bytes.Equal(head, l.match) && l.srv.accepted.Load() {
		l.srv.upgrade(nc, br)
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	rest := make([]byte, br.Buffered())
	_, _ = io.ReadFull(br, rest)
	select {
	case l.conns <- &prefixedConn{Conn: nc, prefix: rest}:
	case <-l.done:
		_ = nc.Close()
	}
}

// Accept returns the next connection that is not a WebSocket upgrade.
func (l *peekListener) Accept() (net.Conn, error) {
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

// upgrade completes the WebSocket handshake on a raw connection and accepts it.
func (s *Server) upgrade(nc net.Conn, br *bufio.Reader) {
	var key, origin, protocol string
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			// The slices are valid only during the callback: copy what is kept.
			path, query, _ := strings.Cut(string(uri), "?")
			_, rest, _ := strings.Cut(path, "/app/")
			key, _ = url.PathUnescape(rest)
			if q, err := url.ParseQuery(query); err == nil {
				protocol = q.Get("protocol")
			}
			return nil
		},
		OnHeader: func(k, v []byte) error {
			if string(k) == "Origin" {
				origin = string(v)
			}
			return nil
		},
	}
	rw := struct {
		io.Reader
		io.Writer
	}{br, nc}
	if _, err := u.Upgrade(rw); err != nil {
		s.log.Debug("websocket upgrade refused", "err", err)
		_ = nc.Close()
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	if br.Buffered() > 0 {
		// Clients send nothing before the 101; bytes here break the framing.
		refuse(nc, errInvalidMessage)
		return
	}
	s.accept(nc, key, origin, protocol)
}
