package ws

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A TLS connection keeps the design of a plain one: no goroutine while it is idle, and
// writes by the writer pool with non-blocking system calls. crypto/tls runs over a
// tlsTransport instead of the socket itself:
//
//   - reads: the poller watches the socket's descriptor as for a plain connection, and the
//     reader reads through the tls.Conn, which reads the socket. crypto/tls may read more
//     records from the socket than the reader asked for; the poller cannot see those, so
//     after the last frame a reader asks the tls.Conn, without waiting, for what it holds
//     (tlsSocket.buffered) before it re-arms the poller.
//   - writes: until the connection is registered (handshake, 101, refusals) the tls.Conn
//     writes to the socket directly. From then on the transport keeps the records the
//     tls.Conn makes, and the connection's writer sends them with non-blocking writes on the
//     descriptor; what the socket cannot take waits, sealed, for the connection's drain
//     goroutine, as the rest of a plain frame does.
//
// What TLS costs on top of a plain connection is measured in BENCHMARKS.md.

// tlsConfig returns the configuration the listener serves TLS with: cfg, which supplies the
// certificate (GetCertificate lets a reload swap it for the next handshakes), with HTTP/1.1
// as the only application protocol (the server speaks no HTTP/2) and records as large as
// they may be, since the writer pool batches frames itself.
func tlsConfig(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		return nil
	}
	c := cfg.Clone()
	c.NextProtos = []string{"http/1.1"}
	c.DynamicRecordSizingDisabled = true
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// tlsTransport is the net.Conn under a connection's tls.Conn: the socket, with writes kept
// while holdWrites says so.
type tlsTransport struct {
	net.Conn // the TCP socket

	mu   sync.Mutex
	hold bool    // set by holdWrites: writes go to out
	out  *[]byte // records written since the connection's writer last took them; nil when none
}

// Write sends p to the socket before holdWrites, and keeps it after.
func (t *tlsTransport) Write(p []byte) (int, error) {
	t.mu.Lock()
	if !t.hold {
		t.mu.Unlock()
		return t.Conn.Write(p)
	}
	if t.out == nil {
		t.out = sealedBuffers.Get().(*[]byte)
	}
	*t.out = append(*t.out, p...)
	t.mu.Unlock()
	return len(p), nil
}

// holdWrites keeps every later write for the connection's writer (on), or sends them to the
// socket again (off, before anything was kept).
func (t *tlsTransport) holdWrites(on bool) {
	t.mu.Lock()
	t.hold = on
	t.mu.Unlock()
}

// take returns the records kept since the last take, or nil.
func (t *tlsTransport) take() *[]byte {
	t.mu.Lock()
	out := t.out
	t.out = nil
	t.mu.Unlock()
	return out
}

// sealedBuffers holds buffers of sealed records between writes, so that an idle connection
// keeps none.
var sealedBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxKeptSealed is the largest sealed buffer given back to the pool.
const maxKeptSealed = 64 << 10

func putSealed(b *[]byte) {
	if cap(*b) <= maxKeptSealed {
		*b = (*b)[:0]
		sealedBuffers.Put(b)
	}
}

// tlsSocket is the TLS side of a registered connection.
type tlsSocket struct {
	conn *tls.Conn
	tr   *tlsTransport

	// Owned by the connection's one writer at a time (a writer-pool pass or the drain).
	buf  *[]byte // records taken from tr and not yet written in full; nil when none
	sent int     // bytes of buf already written
}

// tlsSocketOf returns the TLS side of nc, a connection the Listener made, and the socket
// under it; socket is nc itself and t nil for a plain connection.
func tlsSocketOf(nc net.Conn) (socket net.Conn, t *tlsSocket) {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return nc, nil
	}
	tr, ok := tc.NetConn().(*tlsTransport)
	if !ok {
		return nc, nil
	}
	return tr.Conn, &tlsSocket{conn: tc, tr: tr}
}

// seal encrypts the frames of batch into records, kept after those sealed before. Frames are
// joined first, so that many small frames make one record instead of one each.
func (t *tlsSocket) seal(batch net.Buffers) error {
	if len(batch) == 1 {
		_, err := t.conn.Write(batch[0])
		return err
	}
	joined := sealedBuffers.Get().(*[]byte)
	for _, b := range batch {
		*joined = append(*joined, b...)
	}
	_, err := t.conn.Write(*joined)
	putSealed(joined)
	return err
}

// unsent returns the sealed bytes still to be written, taking new ones from the transport
// when the previous ones are written; nil when none are.
func (t *tlsSocket) unsent() []byte {
	if t.buf == nil {
		t.buf, t.sent = t.tr.take(), 0
		if t.buf == nil {
			return nil
		}
	}
	return (*t.buf)[t.sent:]
}

// wrote records that n more sealed bytes were written.
func (t *tlsSocket) wrote(n int) {
	t.sent += n
	if t.sent == len(*t.buf) {
		putSealed(t.buf)
		t.buf = nil
	}
}

// pending reports whether sealed bytes wait to be written.
func (t *tlsSocket) pending() bool {
	if t.buf != nil {
		return true
	}
	t.tr.mu.Lock()
	defer t.tr.mu.Unlock()
	return t.tr.out != nil
}

// flush writes the sealed bytes with non-blocking writes on fd; done reports that none are
// left.
func (t *tlsSocket) flush(fd int) (done bool, err error) {
	for {
		b := t.unsent()
		if b == nil {
			return true, nil
		}
		n, err := unix.Write(fd, b)
		switch err {
		case nil:
			t.wrote(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false, nil
		default:
			return false, err
		}
	}
}

// flushBlocking writes the sealed bytes with blocking writes, each within timeout.
func (t *tlsSocket) flushBlocking(timeout time.Duration) error {
	for {
		b := t.unsent()
		if b == nil {
			return nil
		}
		_ = t.tr.Conn.SetWriteDeadline(time.Now().Add(timeout))
		n, err := t.tr.Conn.Write(b)
		t.wrote(n)
		if err != nil {
			return err
		}
	}
}

// pastDeadline is a read deadline that has passed: a read returns at once with what is
// already buffered, or times out without a system call.
var pastDeadline = time.Unix(1, 0)

// buffered reads, without waiting for the socket, what the tls.Conn already holds into br
// (whose buffer is empty), and reports whether there was some. The read deadline is left in
// the past: the caller sets it again before reading more. err is a failure other than
// having nothing to read, such as the client's close_notify.
func (t *tlsSocket) buffered(br *bufio.Reader) (bool, error) {
	_ = t.conn.SetReadDeadline(pastDeadline)
	_, err := br.Peek(1)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false, nil
	}
	return false, err
}

// holdWrites switches a TLS connection's writes between the socket and its writers (see
// tlsTransport); a plain connection has nothing to switch.
func (c *Conn) holdWrites(on bool) {
	if c.tls != nil {
		c.tls.tr.holdWrites(on)
	}
}

// handshakeTLS runs the server side of the TLS handshake on nc, within the deadline already
// set on it, and returns the tls.Conn. On failure it closes nc; a plain HTTP request sent to
// the TLS port gets a 400 that says so first, as net/http answers it.
func (s *Server) handshakeTLS(nc net.Conn) (*tls.Conn, bool) {
	tc := tls.Server(&tlsTransport{Conn: nc}, s.tlsConfig)
	err := tc.Handshake()
	if err == nil {
		return tc, true
	}
	var re tls.RecordHeaderError
	if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader[:]) {
		_, _ = io.WriteString(nc, "HTTP/1.0 400 Bad Request\r\nConnection: close\r\n\r\n"+
			"Client sent an HTTP request to an HTTPS server: use https:// and wss://.\n")
	}
	s.log.Debug("tls handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
	_ = nc.Close()
	return nil, false
}

// looksLikeHTTP reports whether the first bytes of a connection look like an HTTP request.
func looksLikeHTTP(hdr []byte) bool {
	switch string(hdr) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}
