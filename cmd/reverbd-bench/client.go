package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"golang.org/x/sys/unix"
)

// maxFrame bounds the payload the tool accepts from the server.
const maxFrame = 64 << 20

// writeTimeout bounds every frame the tool writes.
const writeTimeout = 5 * time.Second

// client is one benchmark WebSocket connection. A single goroutine (run) owns the socket
// from the end of the handshake: it reads every frame through a small bufio.Reader, parses
// only what it needs, answers pings and subscribes. The main goroutine reads the atomic
// fields while it runs and the rest once run has returned.
type client struct {
	b    *bench
	idx  int
	ch   int // index of the channel it subscribes to
	slow bool

	wsConn

	dialStart, dialDone, subscribedAt time.Time

	recv     atomic.Int64 // distinct benchmark events received
	lastRecv atomic.Int64 // unix nanoseconds of the last benchmark event
	ended    atomic.Bool  // run has returned
	subOK    atomic.Bool  // subscription succeeded

	seen     []uint64 // bit seq/K is set once event seq (on this client's channel) arrived
	dups     int64    // events received more than once
	ooo      int64    // events received after one with a higher sequence number
	foreign  int64    // events for another channel, or with a sequence never published
	bad      int64    // benchmark frames whose seq/ts could not be parsed
	lastSeq  int64
	members  int64 // presence member_added/removed frames after subscription_succeeded
	view     int64 // members this client knows of: its list's count, +1/−1 per later added/removed
	early    int64 // member_added/removed frames that arrived before subscription_succeeded
	missed   int64 // of the early member_added, those whose user is not in subscription_succeeded
	earlyIDs []string
	errCode  int // code of the last pusher:error, 0 if none
	outcome  string
}

// wsConn is the client side of one WebSocket connection: the socket and a small
// bufio.Reader that frames are parsed from in place.
type wsConn struct {
	nc   net.Conn
	br   *bufio.Reader
	skip int    // bytes of the payload handed out last, still to be discarded from br
	big  []byte // payloads too large for br, and fragmented messages
}

// closeError is the server's close frame.
type closeError struct{ code int }

func (e closeError) Error() string { return "close " + strconv.Itoa(e.code) }

// subscribeError is a refused subscription.
type subscribeError struct{ reason string }

func (e subscribeError) Error() string { return e.reason }

// dialer returns the gobwas dialer for connection i: its TCP dial binds the i-th source
// address round-robin, and slow connections get the small receive buffer if one was asked.
func (b *bench) dialer(slow bool, i int) ws.Dialer {
	rcvbuf := 0
	if slow {
		rcvbuf = b.opt.slowRcvbuf
	}
	return newDialer(b.opt, b.sourceIPs, b.readBuf, rcvbuf, i)
}

// newDialer returns the gobwas dialer for connection i: its TCP dial binds the i-th of
// sourceIPs round-robin (if any), and sets SO_RCVBUF when rcvbuf > 0.
func newDialer(o *options, sourceIPs []net.IP, readBuf, rcvbuf, i int) ws.Dialer {
	nd := net.Dialer{Timeout: o.dialTimeout}
	if len(sourceIPs) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: sourceIPs[i%len(sourceIPs)]}
	}
	if rcvbuf > 0 {
		size := rcvbuf
		nd.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	return ws.Dialer{
		Timeout:        o.dialTimeout,
		ReadBufferSize: readBuf,
		NetDial:        nd.DialContext,
		TLSConfig:      o.tls,
	}
}

// dial opens the WebSocket connection; run takes it from there.
func (c *client) dial(ctx context.Context) error {
	c.dialStart = time.Now()
	if err := c.open(ctx, c.b.dialer(c.slow, c.idx), c.b.wsURL, c.b.readBuf); err != nil {
		return err
	}
	c.dialDone = time.Now()
	return nil
}

// open dials url with d and sets up the connection for next.
func (c *wsConn) open(ctx context.Context, d ws.Dialer, url string, readBuf int) error {
	conn, br, _, err := d.Dial(ctx, url)
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		return err
	}
	c.nc = conn
	if br == nil {
		br = bufio.NewReaderSize(conn, readBuf)
	}
	c.br, c.skip = br, 0 // nothing of an earlier connection is left to discard
	return nil
}

// run reads the connection until it ends: connection_established → subscribe →
// subscription_succeeded, then events. Slow clients stop reading after subscribing until the
// drain signal, then read what is left within the drain window.
func (c *client) run() {
	defer c.b.readers.Done()
	defer c.ended.Store(true)
	defer func() { _ = c.nc.Close() }()

	if err := c.subscribe(); err != nil {
		c.b.subscribeFailed(c, err)
		c.outcome = outcomeOf(err, c.errCode)
		return
	}
	c.subscribedAt = time.Now()
	c.subOK.Store(true)
	c.b.subscribed.Add(1)
	if c.slow {
		select {
		case <-c.b.drain:
		case <-c.b.stop:
			return
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(c.b.opt.slowDrain))
	}
	for {
		op, p, err := c.next()
		if err != nil {
			// Not closed by the tool at the end: a wss:// client's Close sends close_notify
			// before it closes the socket, so the server's answer may end the read first.
			if !errors.Is(err, net.ErrClosed) && !c.b.closing.Load() {
				c.outcome = outcomeOf(err, c.errCode)
			}
			return
		}
		if op == ws.OpText || op == ws.OpBinary {
			c.handle(p)
		}
	}
}

// subscribe waits for connection_established, sends pusher:subscribe (signed for private
// and presence channels) and waits for its answer.
func (c *client) subscribe() error {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.b.opt.timeout))
	defer func() { _ = c.nc.SetReadDeadline(time.Time{}) }()
	for {
		op, p, err := c.next()
		if err != nil {
			return err
		}
		if op != ws.OpText && op != ws.OpBinary {
			continue
		}
		switch string(frameEvent(p)) {
		case "pusher:connection_established":
			id := socketIDOf(p)
			if id == "" {
				return subscribeError{"no socket_id"}
			}
			if err := c.write(c.b.subscribeFrame(c, id)); err != nil {
				return err
			}
		case "pusher_internal:subscription_succeeded":
			// A member announced before our subscription_succeeded must be in its member
			// list, or a pusher-js client (which replaces its members with that list) never
			// learns about it.
			for _, id := range c.earlyIDs {
				if !bytes.Contains(p, []byte(`\"`+id+`\"`)) && !bytes.Contains(p, []byte(`"`+id+`"`)) {
					c.missed++
				}
			}
			c.earlyIDs = nil
			if c.b.kind == "presence" {
				n, _, _ := numberAfter(p, 0, `"count`)
				c.view = int64(n)
			}
			return nil
		case "pusher:subscription_error":
			return subscribeError{"subscription_error"}
		case "pusher:error":
			c.errCode = errorCode(p)
			return subscribeError{"pusher:error " + strconv.Itoa(c.errCode)}
		case "pusher:ping":
			if err := c.write([]byte(`{"event":"pusher:pong","data":{}}`)); err != nil {
				return err
			}
		case "pusher_internal:member_added":
			c.early++
			c.earlyIDs = append(c.earlyIDs, userIDOf(p))
		case "pusher_internal:member_removed":
			c.early++
		}
	}
}

// handle processes one text frame after the subscription.
func (c *client) handle(p []byte) {
	ev := frameEvent(p)
	if string(ev) == benchEvent {
		c.onEvent(p)
		return
	}
	switch string(ev) {
	case "pusher:ping":
		_ = c.write([]byte(`{"event":"pusher:pong","data":{}}`))
	case "pusher:error":
		c.errCode = errorCode(p)
	case "pusher_internal:member_added", "pusher_internal:member_removed":
		if c.b.closing.Load() {
			return // the tool is closing connections: not part of the run
		}
		c.members++
		if string(ev) == "pusher_internal:member_added" {
			c.view++
		} else {
			c.view--
		}
	}
}

// onEvent accounts one benchmark event: latency, uniqueness and order.
func (c *client) onEvent(p []byte) {
	now := time.Now().UnixNano()
	seq, ts, ok := parseBench(p)
	if !ok {
		c.bad++
		return
	}
	k := uint64(len(c.b.channels))
	if seq%k != uint64(c.ch) || seq/k >= uint64(len(c.seen))*64 {
		c.foreign++
		return
	}
	w, bit := seq/k/64, uint64(1)<<(seq/k%64)
	if c.seen[w]&bit != 0 {
		c.dups++
		return
	}
	c.seen[w] |= bit
	if int64(seq) < c.lastSeq {
		c.ooo++
	}
	c.lastSeq = int64(seq)
	if !c.slow {
		c.b.latency[c.idx%len(c.b.latency)].Record(now - ts)
	}
	c.lastRecv.Store(now)
	c.recv.Add(1)
}

// write sends one masked text frame.
func (c *wsConn) write(p []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	return wsutil.WriteClientText(c.nc, p)
}

// next returns the next complete data message (opcode and payload, valid until the next
// call) and answers control frames on the way: ping → pong, close → close reply and a
// closeError. Unfragmented payloads that fit br are returned in place, without copying;
// larger ones and fragmented messages are assembled in c.big.
func (c *wsConn) next() (ws.OpCode, []byte, error) {
	if cap(c.big) > 1<<20 {
		c.big = nil // do not keep a rare huge message's buffer
	}
	c.big = c.big[:0]
	var msgOp ws.OpCode
	fragmented := false
	for {
		if c.skip > 0 {
			if _, err := c.br.Discard(c.skip); err != nil {
				return 0, nil, err
			}
			c.skip = 0
		}
		h, err := c.br.Peek(2)
		if err != nil {
			return 0, nil, err
		}
		fin, op, masked, lenCode := h[0]&0x80 != 0, ws.OpCode(h[0]&0x0f), h[1]&0x80 != 0, h[1]&0x7f
		hl := 2
		switch lenCode {
		case 126:
			hl = 4
		case 127:
			hl = 10
		}
		if masked {
			hl += 4
		}
		if h, err = c.br.Peek(hl); err != nil {
			return 0, nil, unexpected(err)
		}
		n := int64(lenCode)
		switch lenCode {
		case 126:
			n = int64(binary.BigEndian.Uint16(h[2:4]))
		case 127:
			n = int64(binary.BigEndian.Uint64(h[2:10]))
		}
		var mask [4]byte
		if masked {
			copy(mask[:], h[hl-4:hl])
		}
		if _, err := c.br.Discard(hl); err != nil {
			return 0, nil, unexpected(err)
		}
		if n < 0 || n > maxFrame || op.IsControl() && n > 125 {
			return 0, nil, fmt.Errorf("bad frame: opcode %d, %d bytes", op, n)
		}

		var p []byte
		if int(n) <= c.br.Size() && (op.IsControl() || fin && !fragmented) {
			if p, err = c.br.Peek(int(n)); err != nil {
				return 0, nil, unexpected(err)
			}
			c.skip = int(n)
		} else {
			at := len(c.big)
			c.big = append(c.big, make([]byte, n)...)
			p = c.big[at:]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return 0, nil, unexpected(err)
			}
		}
		if masked {
			ws.Cipher(p, mask, 0)
		}

		switch op {
		case ws.OpPing:
			_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			_ = wsutil.WriteClientMessage(c.nc, ws.OpPong, p)
		case ws.OpPong:
		case ws.OpClose:
			code := 1005 // no status code in the frame
			if len(p) >= 2 {
				code = int(binary.BigEndian.Uint16(p))
			}
			_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			_ = wsutil.WriteClientMessage(c.nc, ws.OpClose, ws.NewCloseFrameBody(ws.StatusCode(code), ""))
			return 0, nil, closeError{code}
		case ws.OpContinuation:
			if !fragmented {
				return 0, nil, errors.New("unexpected continuation frame")
			}
			if fin {
				return msgOp, c.big, nil
			}
		default:
			if fragmented {
				return 0, nil, errors.New("data frame inside a fragmented message")
			}
			if fin {
				return op, p, nil
			}
			fragmented, msgOp = true, op
		}
	}
}

// unexpected turns an EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// outcomeOf names how a connection ended from the error that ended its reading.
func outcomeOf(err error, errCode int) string {
	var ce closeError
	var se subscribeError
	switch {
	case errors.As(err, &ce):
		return "close " + strconv.Itoa(ce.code)
	case errors.As(err, &se):
		return se.reason
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "open"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return withCode("eof mid-frame", errCode)
	case errors.Is(err, io.EOF):
		return withCode("eof", errCode)
	case errors.Is(err, syscall.ECONNRESET):
		return withCode("reset", errCode)
	default:
		return "error: " + err.Error()
	}
}

// withCode prefixes an abrupt end with the pusher:error that came before it, if any.
func withCode(s string, errCode int) string {
	if errCode == 0 {
		return s
	}
	return "pusher:error " + strconv.Itoa(errCode) + " then " + s
}

// dialErrorKind names a failed dial for the report.
func dialErrorKind(err error) string {
	var se ws.StatusError
	switch {
	case errors.As(err, &se):
		return "http " + strconv.Itoa(int(se))
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "EADDRNOTAVAIL"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "ECONNREFUSED"
	case errors.Is(err, syscall.ECONNRESET):
		return "ECONNRESET"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "EMFILE"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}
