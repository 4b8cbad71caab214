package ws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	rws "github.com/reverbd/reverbd/ws"
)

// dialSmallBuffer connects like dial, on a socket whose receive buffer is a few KiB, so the
// server's writes fill it as soon as the client stops reading.
func (e *env) dialSmallBuffer(t *testing.T) *client {
	t.Helper()
	nd := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
		return errors.Join(err, serr)
	}}
	d := ws.Dialer{Timeout: 5 * time.Second, NetDial: nd.DialContext}
	conn, br, _, err := d.Dial(context.Background(), e.url+"/app/"+testKey+"?protocol=7&client=js&version=8.6.0&flash=false")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, rw: conn}
	if br != nil {
		c.rw = struct {
			io.Reader
			io.Writer
		}{br, conn}
	}
	first := c.read()
	var d2 struct {
		SocketID string `json:"socket_id"`
	}
	if first.Event != "pusher:connection_established" || json.Unmarshal([]byte(first.dataString(t)), &d2) != nil {
		t.Fatalf("first frame = %+v", first)
	}
	c.socketID = d2.SocketID
	return c
}

// readWholeFrames reads the rest of the stream until the server closes it and checks that it
// is a sequence of whole, unmasked server frames: text frames each holding payload, then
// pusher:error 4100 and a close frame with 4100.
func (c *client) readWholeFrames(payload []byte) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	events, sawError := 0, false
	for {
		h, err := ws.ReadHeader(c.rw)
		if err != nil {
			c.t.Fatalf("after %d events: broken frame header: %v", events, err)
		}
		if !h.Fin || h.Masked || h.Rsv != 0 || (h.OpCode != ws.OpText && h.OpCode != ws.OpClose) || h.Length > 1<<20 {
			c.t.Fatalf("after %d events: broken frame header %+v", events, h)
		}
		got := make([]byte, h.Length)
		if _, err := io.ReadFull(c.rw, got); err != nil {
			c.t.Fatalf("after %d events: frame of %d bytes cut short: %v", events, h.Length, err)
		}
		if h.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(got)
			if code != 4100 || !sawError {
				c.t.Fatalf("after %d events: close %d (pusher:error before it: %v), want pusher:error then close 4100", events, code, sawError)
			}
			if n, err := c.rw.Read(make([]byte, 1)); n != 0 || err == nil {
				c.t.Fatalf("%d bytes (%v) after the close frame", n, err)
			}
			return
		}
		if bytes.Equal(got, payload) && !sawError {
			events++
			continue
		}
		var f frame
		if err := json.Unmarshal(got, &f); err != nil || f.Event != "pusher:error" || sawError {
			c.t.Fatalf("after %d events: unexpected text frame %.80q", events, got)
		}
		if code, _ := errorOf(c.t, f); code != 4100 {
			c.t.Fatalf("pusher:error %d, want 4100", code)
		}
		sawError = true
	}
}

// A slow consumer's drop never cuts a frame: whatever part of a frame the socket took is
// finished before the 4100 frames, so the client reads whole frames up to the close.
func TestSlowConsumerDropKeepsFramesWhole(t *testing.T) {
	const limit = 64 << 10
	e := newEnv(t, rws.Params{WriteLimit: limit})
	// Each frame nearly fills the queue: the next one is refused while the socket still has
	// the rest of the last one to write.
	data := strings.Repeat("x", limit-1<<10)
	for i := range 20 {
		c := e.dialSmallBuffer(t)
		channel := "orders-" + strconv.Itoa(i)
		c.subscribe(channel, "")
		payload := rws.EventPayload("big", channel, data)
		before := e.srv.Stats().SlowConsumers
		for n := 0; e.srv.Stats().SlowConsumers == before; n++ {
			if n > 1000 {
				t.Fatal("slow consumer was never dropped")
			}
			e.srv.Hub().DeliverFrame("3", channel, "", payload)
		}
		c.readWholeFrames(payload)
		c.conn.Close()
	}
}
