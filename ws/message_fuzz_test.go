package ws

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/gobwas/ws"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
)

// FuzzHandleMessage feeds arbitrary client messages to a connection: nothing may panic, and
// the connection is never wedged: after the message it is either closing or still answers a
// pusher:ping with a pusher:pong.
func FuzzHandleMessage(f *testing.F) {
	for _, seed := range []string{
		`{"event":"pusher:ping","data":{}}`,
		`{"event":"pusher:subscribe","data":{"auth":"","channel":"orders"}}`,
		`{"event":"pusher:subscribe","data":"{\"channel\":\"private-x\",\"auth\":\"k:00\"}"}`,
		`{"event":"pusher:subscribe","data":{"auth":"k:00","channel_data":"{\"user_id\":7}","channel":"presence-x"}}`,
		`{"event":"pusher:unsubscribe","data":{"channel":"orders"}}`,
		`{"event":"pusher:signin","data":{"auth":"k:00","user_data":"{\"id\":\"7\"}"}}`,
		`{"event":"client-typing","channel":"private-x","data":{"a":1}}`,
		`{"event":"pusher:nonsense"}`, `not json`, `{"event":42}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	app := config.App{ID: "1", Key: "k", Secret: "s", AcceptClientEventsFrom: config.ClientEventsMembers,
		RateLimiting: config.RateLimiting{Enabled: false}, MaxSubscriptions: 1, MaxClientEventsPerSecond: 1, MaxPresenceMembers: 1}
	s, err := New(Params{Apps: registry.NewApps([]config.App{app}), Occupancy: registry.NewMemoryOccupancy(), Cache: registry.NewMemoryCache()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, out := capturedConn(s)
		c.handleMessage(msg)
		c.handleMessage([]byte(`{"event":"pusher:ping","data":{}}`))
		s.writers.waitIdle()
		s.wg.Wait() // the drain goroutine of a connection without a socket
		c.wmu.Lock()
		closing := c.closing
		c.wmu.Unlock()
		if !closing {
			if frames := out.events(t); len(frames) == 0 || frames[len(frames)-1] != "pusher:pong:" {
				t.Errorf("after %q the ping got %q, want a pusher:pong last", msg, frames)
			}
		}
		c.release()
		s.writers.waitIdle()
		s.wg.Wait()
	})
}

// errDrained is what scriptConn reads once its script is used up, as a socket with nothing
// more to read would block.
var errDrained = errors.New("no more bytes")

// scriptConn is a net.Conn that reads a fixed script of bytes and keeps what is written.
type scriptConn struct {
	captureConn
	r *bytes.Reader
}

func (s *scriptConn) Read(p []byte) (int, error) {
	if s.r.Len() == 0 {
		return 0, errDrained
	}
	return s.r.Read(p)
}

// clientFrame compiles a masked client frame.
func clientFrame(f ws.Frame) []byte { return ws.MustCompileFrame(ws.MaskFrame(f)) }

// FuzzReadFrames feeds arbitrary bytes, then pusher:ping messages, to a connection's reader:
// nothing may panic, and the connection is never wedged: either the bytes end it (it is
// closing) or it answers the pings, a pusher:pong being the last frame it writes. The bytes
// may declare a frame that swallows the first pings (at most max_message_size of them), so
// more follow than one frame can hold.
func FuzzReadFrames(f *testing.F) {
	text := func(s string) []byte { return clientFrame(ws.NewTextFrame([]byte(s))) }
	for _, seed := range [][]byte{
		nil,
		text(`{"event":"pusher:subscribe","data":{"channel":"orders"}}`),
		text(`{"event":"client-x","channel":"private-x","data":{}}`),
		text(`not json`),
		text("bad \xff utf-8"),
		clientFrame(ws.NewPingFrame([]byte("hi"))),
		clientFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))),
		clientFrame(ws.NewFrame(ws.OpText, false, []byte(`{"event":`))),
		ws.MustCompileFrame(ws.NewTextFrame([]byte(`{"unmasked":true}`))),
		text(string(bytes.Repeat([]byte("x"), 2000))),
		[]byte("\x81\xff\x00\x00\x00\x00\x00\x10\x00\x00garbage"),
	} {
		f.Add(seed)
	}
	app := config.App{ID: "1", Key: "k", Secret: "s", AcceptClientEventsFrom: config.ClientEventsMembers,
		MaxMessageSize: 1000, MaxSubscriptions: 1, MaxClientEventsPerSecond: 1}
	s, err := New(Params{Apps: registry.NewApps([]config.App{app}), Occupancy: registry.NewMemoryOccupancy(), Cache: registry.NewMemoryCache()})
	if err != nil {
		f.Fatal(err)
	}
	ping := text(`{"event":"pusher:ping","data":{}}`)
	pings := bytes.Repeat(ping, 2*app.MaxMessageSize/len(ping)+2)
	f.Fuzz(func(t *testing.T, garbage []byte) {
		in := &scriptConn{r: bytes.NewReader(append(bytes.Clone(garbage), pings...))}
		c := registerConn(s, &Conn{srv: s, nc: in, fd: -1})
		var err error
		for err == nil && in.r.Len() > 0 { // one wake-up a round, as readable does them
			br := bufio.NewReaderSize(in, readBufferSize)
			for more := true; more && err == nil; {
				more, err = c.readFrames(br)
			}
		}
		if err != nil {
			c.readFailed(err)
		}
		s.writers.waitIdle()
		s.wg.Wait() // the drain goroutine of a connection without a socket
		c.wmu.Lock()
		closing := c.closing
		c.wmu.Unlock()
		switch {
		case err != nil && !closing:
			t.Errorf("read error %v left the connection open", err)
		case err == nil && !closing:
			if frames := in.events(t); len(frames) == 0 || frames[len(frames)-1] != "pusher:pong:" {
				t.Errorf("after %q the ping got %q, want a pusher:pong last", garbage, frames)
			}
		}
		c.release()
		s.writers.waitIdle()
		s.wg.Wait()
	})
}
