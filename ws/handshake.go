package ws

import (
	"bufio"
	"bytes"
	"errors"
	"hash/maphash"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// DefaultMaxHeaderBytes is the default bound on a handshake's request line and headers.
const DefaultMaxHeaderBytes = 8 << 10

const (
	// slotWait is how long a new connection waits for a handshake slot before it is closed.
	// Meanwhile the accept loop waits too and newer connections queue in the kernel's listen
	// backlog: a reconnect storm is slowed down, not refused.
	slotWait = time.Second
	// lingerBytes and lingerTimeout bound what is read and dropped after a refused
	// handshake's answer, so that closing does not reset the connection before the client
	// has read it.
	lingerBytes   = 64 << 10
	lingerTimeout = time.Second
)

// errHeaderTooLarge ends a handshake whose request line and headers pass the limit.
var errHeaderTooLarge = errors.New("ws: handshake headers too large")

var responseHeaderTooLarge = []byte("HTTP/1.1 431 Request Header Fields Too Large\r\n" +
	"Connection: close\r\nContent-Length: 0\r\n\r\n")

// handshakes tracks the connections between accept and registration. It bounds how many
// the listener holds at once (a slot each) so that a flood of slow or oversized handshakes
// costs bounded memory, and lets Shutdown cut them short and wait for them. The connections
// are kept in shards, so that handshakes in progress rarely wait for one another's lock.
type handshakes struct {
	slots chan struct{} // one value per slot taken by the listener

	seed   maphash.Seed
	closed atomic.Bool // set by cut; no handshake begins after it
	shards [handshakeShards]struct {
		mu    sync.Mutex
		conns map[net.Conn]struct{} // in progress
	}
	wg sync.WaitGroup // one count per connection in progress
}

const handshakeShards = 64

func (h *handshakes) init(max int) {
	h.slots = make(chan struct{}, max)
	h.seed = maphash.MakeSeed()
	for i := range h.shards {
		h.shards[i].conns = make(map[net.Conn]struct{})
	}
}

// shard returns the lock and the map that hold nc.
func (h *handshakes) shard(nc net.Conn) (*sync.Mutex, map[net.Conn]struct{}) {
	sh := &h.shards[maphash.Comparable(h.seed, nc)%handshakeShards]
	return &sh.mu, sh.conns
}

// acquire takes a slot, waiting up to slotWait for one; waited reports that none was free
// at once.
func (h *handshakes) acquire(done <-chan struct{}) (ok, waited bool) {
	select {
	case h.slots <- struct{}{}:
		return true, false
	default:
	}
	t := time.NewTimer(slotWait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return true, true
	case <-t.C:
	case <-done:
	}
	return false, true
}

// release frees a slot taken by acquire.
func (h *handshakes) release() { <-h.slots }

// begin registers nc with the deadline its handshake must meet (zero: none); it returns
// false once Shutdown has begun. The deadline is set under nc's shard lock, which cut takes
// after setting closed, so cut's deadline in the past is never replaced.
func (h *handshakes) begin(nc net.Conn, deadline time.Time) bool {
	mu, conns := h.shard(nc)
	mu.Lock()
	defer mu.Unlock()
	if h.closed.Load() {
		return false
	}
	conns[nc] = struct{}{}
	h.wg.Add(1)
	_ = nc.SetDeadline(deadline)
	return true
}

// setReadDeadline sets nc's read deadline unless Shutdown has cut the handshakes.
func (h *handshakes) setReadDeadline(nc net.Conn, t time.Time) {
	mu, _ := h.shard(nc)
	mu.Lock()
	defer mu.Unlock()
	if !h.closed.Load() {
		_ = nc.SetReadDeadline(t)
	}
}

// end unregisters a connection registered by begin.
func (h *handshakes) end(nc net.Conn) {
	mu, conns := h.shard(nc)
	mu.Lock()
	delete(conns, nc)
	mu.Unlock()
	h.wg.Done()
}

// cut makes every read and write of the handshakes in progress fail at once, and refuses
// new ones; wg then counts down as they return.
func (h *handshakes) cut() {
	h.closed.Store(true)
	past := time.Unix(1, 0)
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for nc := range sh.conns {
			_ = nc.SetDeadline(past)
		}
		sh.mu.Unlock()
	}
}

// limitedReader reads at most n bytes from r, then fails with errHeaderTooLarge. gobwas/ws's
// Upgrader reads each header line whole and grows it without bound (its readLine appends
// until '\n'), and reads any number of lines; this bounds both.
type limitedReader struct {
	r io.Reader
	n int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeaderTooLarge
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= n
	return n, err
}

// upgrade completes the WebSocket handshake on a raw connection, within deadline, and
// accepts it.
func (s *Server) upgrade(nc net.Conn, br *bufio.Reader, deadline time.Time) {
	var key, origin, protocol string
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			key, protocol = appKeyAndProtocol(uri)
			return nil
		},
		OnHeader: func(k, v []byte) error {
			if string(k) == "Origin" {
				origin = string(v)
			}
			return nil
		},
	}
	// The Upgrader's answer is kept, so that the 101 leaves with the first frame.
	resp := messageBuffers.Get().(*bytes.Buffer)
	resp.Reset()
	defer putMessageBuffer(resp)
	rw := struct {
		io.Reader
		io.Writer
	}{&limitedReader{r: br, n: s.maxHeaderBytes}, resp}
	if _, err := u.Upgrade(rw); err != nil {
		// The Upgrader has answered what it refused itself (400, 405, 426); a read error
		// (too large, deadline, reset) is answered here or not at all.
		if resp.Len() > 0 {
			_, _ = nc.Write(resp.Bytes())
		}
		if errors.Is(err, errHeaderTooLarge) {
			_, _ = nc.Write(responseHeaderTooLarge)
		}
		s.log.Debug("websocket upgrade refused", "err", err)
		s.lingerClose(nc, deadline)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		// Clients send nothing before the 101; bytes here break the framing.
		refuse(nc, resp.Bytes(), errInvalidMessage)
		return
	}
	s.accept(nc, resp.Bytes(), key, origin, protocol)
}

// lingerClose closes a refused handshake's connection so that the client can read the
// answer: the write side is shut first, then what the client still sends is read and
// dropped (a bounded amount, until the handshake deadline or a second has passed), so that
// closing with unread bytes does not reset the connection and discard the answer.
func (s *Server) lingerClose(nc net.Conn, deadline time.Time) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		if soon := time.Now().Add(lingerTimeout); soon.Before(deadline) {
			deadline = soon
		}
		s.hs.setReadDeadline(nc, deadline)
		_, _ = io.CopyN(io.Discard, nc, lingerBytes)
	}
	_ = nc.Close()
}

// appKeyAndProtocol returns the app key of a request URI /…/app/{key}?… and its protocol
// query parameter, as url.PathUnescape and url.ParseQuery read them (a query that
// url.ParseQuery refuses gives no protocol). The common URIs, without escapes and with
// queries of at most 1 KiB (far under url.ParseQuery's bound on the number of parameters),
// are read without them. uri is the Upgrader's buffer: what is kept is copied.
func appKeyAndProtocol(uri []byte) (key, protocol string) {
	path, query, _ := bytes.Cut(uri, []byte("?"))
	_, rest, _ := bytes.Cut(path, []byte("/app/"))
	if bytes.IndexByte(rest, '%') < 0 {
		key = string(rest)
	} else {
		key, _ = url.PathUnescape(string(rest))
	}
	if len(query) > 1024 || bytes.ContainsAny(query, "%+;") {
		if q, err := url.ParseQuery(string(query)); err == nil {
			protocol = q.Get("protocol")
		}
		return key, protocol
	}
	for len(query) > 0 {
		var param []byte
		param, query, _ = bytes.Cut(query, []byte("&"))
		if name, value, _ := bytes.Cut(param, []byte("=")); string(name) == "protocol" {
			return key, string(value)
		}
	}
	return key, ""
}
