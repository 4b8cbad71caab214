package ws

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/reverbd/reverbd/registry/metrics"
)

// maxDiscard is the largest oversized frame read and discarded before closing with 1009.
const maxDiscard = 1 << 20

// errClosedByClient ends reading after the client's close frame.
var errClosedByClient = errors.New("ws: closed by client")

var frameReaders = sync.Pool{New: func() any { return new(wsutil.Reader) }}

var messageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBufferSize is the size of the buffer a wake-up reads the socket through: the frames a
// client sent together (a reconnecting client's subscribes) come in with one system call.
const readBufferSize = 4 << 10

// maxFramesPerWake bounds the frames one wake-up handles, so that a client that keeps sending
// cannot keep a reader for itself: past it, the connection queues for a reader again.
const maxFramesPerWake = 16

var readBuffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}

// readHook, set only by tests, sees every message before it is handled.
var readHook func(msg []byte)

// readable runs when the poller saw bytes on the socket, or when a wake-up left frames
// unread: it reads and handles the frames that are there, then re-arms the poller. It owns
// the read side of c while it runs.
func (c *Conn) readable() {
	// A panic closes this connection alone; rmu stays locked, as no reader follows release.
	defer c.closeOnPanic("reader")
	// The poller's one-shot arming already gives one reader at a time; the lock makes that
	// ordering visible to Go (and its race detector), which cannot see it through epoll.
	c.rmu.Lock()
	br := c.unread
	c.unread = nil
	if br == nil {
		br = readBuffers.Get().(*bufio.Reader)
		br.Reset(c.nc)
	}
	more, err := c.readFrames(br)
	if more {
		c.unread = br // bytes already read from the socket: the poller cannot see them
	}
	c.rmu.Unlock()
	switch {
	case err != nil:
		c.readFailed(err)
	case more:
		c.srv.readers.run(c)
	default:
		if err := c.srv.poller.Rearm(c.fd, c); err != nil {
			c.release()
		}
	}
}

// readFrames reads and handles one frame from br, then the next ones while their first bytes
// are already buffered, up to maxFramesPerWake; a frame whose first bytes are buffered is
// read whole (waiting for the rest, as for any frame). more reports that bytes are still
// buffered: the next wake-up must not wait for the poller. Unless more is set, br goes back
// to its pool, as soon as it is empty: before the last message is handled, which may wait
// for locks, so that a waiting reader does not hold it.
//
// The read deadline gives each frame at least nine tenths of the read timeout: it is set
// when the wake-up starts and set again before a frame once a tenth has passed, not for
// every frame (each setting is a runtime timer update).
//
// On a TLS connection, "buffered" includes the records crypto/tls has read from the socket
// and not yet decrypted for br.
func (c *Conn) readFrames(br *bufio.Reader) (more bool, err error) {
	timeout := c.srv.readTimeout
	var renew time.Time
	for range maxFramesPerWake {
		if now := time.Now(); !now.Before(renew) {
			_ = c.nc.SetReadDeadline(now.Add(timeout))
			renew = now.Add(timeout / 10)
		}
		msg, err := c.readOne(br)
		if err == nil && br.Buffered() == 0 && c.tls != nil {
			// Records crypto/tls read ahead are invisible to the poller: read them now.
			var buffered bool
			buffered, err = c.tls.buffered(br)
			renew = time.Time{} // buffered left the read deadline in the past
			if buffered {
				if msg != nil {
					c.handle(msg)
				}
				continue
			}
		}
		last := err != nil || br.Buffered() == 0
		if last {
			br.Reset(nil)
			readBuffers.Put(br)
		}
		if msg != nil {
			c.handle(msg)
		}
		if last {
			return false, err
		}
	}
	return true, nil
}

// readOne reads one frame, or one whole data message with its continuation frames, from br,
// which reads c's socket; the caller has set the read deadline. A control frame is answered
// here; a data message is returned in a pooled buffer for handle.
func (c *Conn) readOne(br *bufio.Reader) (*bytes.Buffer, error) {
	// A message is read whole within this call, so the reader keeps no state between calls
	// and comes from a pool instead of costing every idle connection its size.
	rd := frameReaders.Get().(*wsutil.Reader)
	*rd = wsutil.Reader{
		Source:         br,
		State:          ws.StateServerSide,
		CheckUTF8:      true,
		MaxMessageSize: int64(c.App().MaxMessageSize),
	}
	defer func() {
		*rd = wsutil.Reader{}
		frameReaders.Put(rd)
	}()
	hdr, err := rd.NextFrame()
	if err != nil {
		if errors.Is(err, wsutil.ErrMessageTooLarge) && hdr.Length <= maxDiscard {
			// Read the rest of the frame, so closing the socket sends FIN and not RST, and
			// the client gets the close frame.
			_, _ = io.CopyN(io.Discard, br, hdr.Length)
		}
		return nil, err
	}
	c.touch()
	if hdr.OpCode.IsControl() {
		c.controlPinger.Store(true)
		var out bytes.Buffer
		err := wsutil.ControlHandler{
			Src: rd, Dst: &out, State: ws.StateServerSide, DisableSrcCiphering: true,
		}.Handle(hdr)
		var closed wsutil.ClosedError
		if errors.As(err, &closed) {
			c.closeWith(clientCloseCode(closed.Code), out.Bytes()) // echo the client's close frame, then release
			return nil, errClosedByClient
		}
		if out.Len() > 0 && err == nil {
			c.Send(out.Bytes()) // a pong
		}
		return nil, err
	}
	buf := messageBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(rd); err != nil {
		putMessageBuffer(buf)
		return nil, err
	}
	c.stats.Received(buf.Len())
	return buf, nil
}

// handle handles a message readOne returned, then gives its buffer back.
func (c *Conn) handle(msg *bytes.Buffer) {
	defer putMessageBuffer(msg)
	if readHook != nil {
		readHook(msg.Bytes())
	}
	if c.srv.debug {
		c.logReceived(msg.Bytes())
	}
	c.handleMessage(msg.Bytes())
}

func putMessageBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= 64<<10 {
		buf.Reset()
		messageBuffers.Put(buf)
	}
}

// readFailed ends the connection after a read error, with the close code RFC 6455 and
// Pusher's WebSocket protocol docs give for it.
func (c *Conn) readFailed(err error) {
	var perr ws.ProtocolError
	switch {
	case errors.Is(err, errClosedByClient):
		// The echo of the client's close frame is queued; release follows it.
	case errors.Is(err, wsutil.ErrMessageTooLarge), errors.Is(err, wsutil.ErrFrameTooLarge):
		c.logClient(slog.LevelInfo, "message over max_message_size")
		c.stats.LimitHit(metrics.LimitMaxMessageSize)
		c.closeWith(int(ws.StatusMessageTooBig), closeFrame(int(ws.StatusMessageTooBig), "Maximum message size exceeded"))
	case errors.Is(err, wsutil.ErrInvalidUTF8):
		c.logClient(slog.LevelInfo, "invalid utf-8 in text frame")
		c.closeWith(int(ws.StatusInvalidFramePayloadData), closeFrame(int(ws.StatusInvalidFramePayloadData), "Invalid UTF-8"))
	case errors.As(err, &perr):
		c.logClient(slog.LevelInfo, "websocket protocol error", "err", err)
		c.closeWith(int(ws.StatusProtocolError), closeFrame(int(ws.StatusProtocolError), string(perr)))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		c.release()
	default:
		c.srv.log.Debug("read failed", "app_id", c.App().ID, "socket_id", c.id, "err", err)
		c.release()
	}
}

// clientCloseCode is the code a client's close frame is counted under: the codes RFC 6455
// defines (1000 to 1015) as they are, 1005 (no status) for a frame without one, and 0 for
// any other, so that clients cannot make the label take thousands of values.
func clientCloseCode(code ws.StatusCode) int {
	switch {
	case code == 0:
		return int(ws.StatusNoStatusRcvd)
	case code >= 1000 && code <= 1015:
		return int(code)
	}
	return 0
}

// touch records activity: any frame from the client answers an outstanding ping.
func (c *Conn) touch() {
	c.lastSeen.Store(time.Now().UnixNano())
	if c.pingedAt.Load() != 0 {
		c.pingedAt.Store(0)
	}
}
