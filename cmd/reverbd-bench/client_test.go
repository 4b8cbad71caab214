package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestNextFrames feeds client.next server frames — small and large, fragmented with a
// ping in between, then a close — and checks what it returns and answers.
func TestNextFrames(t *testing.T) {
	srv, cli := net.Pipe()
	defer srv.Close()
	c := &wsConn{nc: cli, br: bufio.NewReaderSize(cli, 64)}

	big := strings.Repeat("y", 300) // larger than the 64-byte reader
	go func() {
		w := func(f ws.Frame) { _ = ws.WriteFrame(srv, f) }
		w(ws.NewTextFrame([]byte("small")))
		w(ws.NewTextFrame([]byte(big)))
		w(ws.NewFrame(ws.OpText, false, []byte("frag1-")))
		w(ws.NewPingFrame([]byte("p")))
		w(ws.NewFrame(ws.OpContinuation, false, []byte("frag2-")))
		w(ws.NewFrame(ws.OpContinuation, true, []byte("frag3")))
		w(ws.NewTextFrame([]byte("after")))
		w(ws.NewCloseFrame(ws.NewCloseFrameBody(4100, "slow")))
	}()
	// The client's pong and close reply must be read for net.Pipe writes to complete.
	replies := make(chan []ws.OpCode, 1)
	go func() {
		var ops []ws.OpCode
		r := wsutil.Reader{Source: srv, State: ws.StateServerSide, CheckUTF8: false}
		for {
			h, err := r.NextFrame()
			if err != nil {
				break
			}
			_, _ = io.Copy(io.Discard, &r)
			ops = append(ops, h.OpCode)
			if h.OpCode == ws.OpClose {
				break
			}
		}
		replies <- ops
	}()

	for _, want := range []string{"small", big, "frag1-frag2-frag3", "after"} {
		op, p, err := c.next()
		if err != nil || op != ws.OpText || string(p) != want {
			t.Fatalf("next() = %v, %.20q, %v; want text %.20q", op, p, err, want)
		}
	}
	_, _, err := c.next()
	if ce, ok := err.(closeError); !ok || ce.code != 4100 {
		t.Fatalf("next() error %v, want close 4100", err)
	}
	if got := outcomeOf(err, 0); got != "close 4100" {
		t.Errorf("outcome %q", got)
	}
	ops := <-replies
	if len(ops) != 2 || ops[0] != ws.OpPong || ops[1] != ws.OpClose {
		t.Errorf("client answered %v, want pong then close", ops)
	}
}

// TestNextTruncated checks that a connection cut inside a frame reads as "eof mid-frame".
func TestNextTruncated(t *testing.T) {
	var buf bytes.Buffer
	_ = ws.WriteFrame(&buf, ws.NewTextFrame([]byte("complete")))
	_ = ws.WriteFrame(&buf, ws.NewTextFrame([]byte(strings.Repeat("z", 100))))
	data := buf.Bytes()[:buf.Len()-10]
	c := &wsConn{br: bufio.NewReaderSize(bytes.NewReader(data), 4096)}
	if _, p, err := c.next(); err != nil || string(p) != "complete" {
		t.Fatalf("first frame: %q, %v", p, err)
	}
	_, _, err := c.next()
	if got := outcomeOf(err, 4100); got != "pusher:error 4100 then eof mid-frame" {
		t.Fatalf("outcome %q (err %v)", got, err)
	}
}
