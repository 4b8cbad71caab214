package ws

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// recordReads records the messages the server reads, in order, until the test ends.
func recordReads(t *testing.T) func() []string {
	t.Helper()
	var mu sync.Mutex
	var got []string
	restore := SetReadHook(func(msg []byte) {
		mu.Lock()
		got = append(got, string(msg))
		mu.Unlock()
	})
	t.Cleanup(restore)
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// subscribeFrames are n masked pusher:subscribe frames of public channels ch-0, ch-1, …, and
// the messages they hold.
func subscribeFrames(n int) ([]byte, []string) {
	var frames []byte
	var msgs []string
	for i := range n {
		msg := `{"event":"pusher:subscribe","data":{"channel":"ch-` + strconv.Itoa(i) + `"}}`
		frames = append(frames, clientFrame(ws.NewTextFrame([]byte(msg)))...)
		msgs = append(msgs, msg)
	}
	return frames, msgs
}

// readSucceeded reads n frames from the client's end and returns the channels of their
// subscription_succeeded events.
func readSucceeded(t *testing.T, client net.Conn, n int) []string {
	t.Helper()
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	var channels []string
	for range n {
		_, payload, err := readServerFrame(client)
		if err != nil {
			t.Fatalf("after %v: %v", channels, err)
		}
		var f struct{ Event, Channel string }
		if err := json.Unmarshal(payload, &f); err != nil || f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("after %v: got %s", channels, payload)
		}
		channels = append(channels, f.Channel)
	}
	return channels
}

func channelNames(n int) []string {
	var names []string
	for i := range n {
		names = append(names, "ch-"+strconv.Itoa(i))
	}
	return names
}

// Frames a client sent together are all handled in one wake-up, in order, and the client's
// answers come back in the same order.
func TestReaderHandlesBufferedFramesInOneWakeUp(t *testing.T) {
	reads := recordReads(t)
	s := raceServer(t, Params{})
	c, client := socketConn(t, s)
	frames, msgs := subscribeFrames(3)
	if _, err := client.Write(frames); err != nil {
		t.Fatal(err)
	}
	c.readable() // one wake-up, run here: the server's poller is not running
	if got := reads(); strings.Join(got, "\n") != strings.Join(msgs, "\n") {
		t.Fatalf("one wake-up read %q, want %q", got, msgs)
	}
	if got, want := readSucceeded(t, client, 3), channelNames(3); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("answers for %v, want %v", got, want)
	}
	if c.unread != nil {
		t.Error("the wake-up kept a read buffer with nothing left in it")
	}
}

// A frame whose first bytes came with the frames before it is waited for and handled in the
// same wake-up; no byte of it is lost.
func TestReaderWaitsForTheRestOfABufferedFrame(t *testing.T) {
	reads := recordReads(t)
	s := raceServer(t, Params{})
	c, client := socketConn(t, s)
	frames, msgs := subscribeFrames(2)
	cut := len(frames) - 10 // the second frame without its last 10 bytes
	if _, err := client.Write(frames[:cut]); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.readable(); close(done) }()
	// The first frame is handled while the second is incomplete.
	if got := readSucceeded(t, client, 1); got[0] != "ch-0" {
		t.Fatalf("first answer for %v", got)
	}
	select {
	case <-done:
		t.Fatal("the wake-up ended with a frame half read")
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := client.Write(frames[cut:]); err != nil {
		t.Fatal(err)
	}
	<-done
	if got := reads(); strings.Join(got, "\n") != strings.Join(msgs, "\n") {
		t.Fatalf("read %q, want %q", got, msgs)
	}
	if got := readSucceeded(t, client, 1); got[0] != "ch-1" {
		t.Errorf("second answer for %v", got)
	}
}

// One wake-up handles at most maxFramesPerWake frames, so a client that keeps sending cannot
// keep a reader to itself; the connection then queues for a reader again with the rest of the
// bytes already read, and every frame is handled once, in order.
func TestReaderCapsFramesPerWakeUp(t *testing.T) {
	reads := recordReads(t)
	s := raceServer(t, Params{})
	c, client := socketConn(t, s)
	n := 2*maxFramesPerWake + 5
	frames, msgs := subscribeFrames(n)
	if _, err := client.Write(frames); err != nil {
		t.Fatal(err)
	}

	br := bufio.NewReaderSize(c.nc, readBufferSize)
	more, err := c.readFrames(br)
	if err != nil || !more {
		t.Fatalf("readFrames = %v, %v; want more bytes buffered", more, err)
	}
	if got := reads(); len(got) != maxFramesPerWake {
		t.Fatalf("one wake-up handled %d frames, want %d", len(got), maxFramesPerWake)
	}

	c.unread = br // as readable leaves it, and requeues the connection
	c.readable()
	s.wg.Wait() // the wake-ups readable queued in turn
	if got := reads(); strings.Join(got, "\n") != strings.Join(msgs, "\n") {
		t.Fatalf("read %d messages, want the %d sent, in order", len(got), n)
	}
	if got, want := readSucceeded(t, client, n), channelNames(n); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("answers for %v, want %v", got, want)
	}
	if c.unread != nil {
		t.Error("a read buffer is kept after every frame was handled")
	}
}

// The bytes a wake-up reads ahead do not change how a message over max_message_size ends the
// connection: 1009, after the frames before it were handled.
func TestReaderOversizedAfterBufferedFrame(t *testing.T) {
	s := raceServer(t, Params{})
	c, client := socketConn(t, s)
	c.App().MaxMessageSize = 200
	frames, _ := subscribeFrames(1)
	frames = append(frames, clientFrame(ws.NewTextFrame(bytes.Repeat([]byte("x"), 300)))...)
	if _, err := client.Write(frames); err != nil {
		t.Fatal(err)
	}
	c.readable()
	if got := readSucceeded(t, client, 1); got[0] != "ch-0" {
		t.Fatalf("answer for %v", got)
	}
	h, payload, err := readServerFrame(client)
	if err != nil || h.OpCode != ws.OpClose {
		t.Fatalf("got %+v %q %v, want a close frame", h, payload, err)
	}
	if code, _ := ws.ParseCloseFrameData(payload); code != ws.StatusMessageTooBig {
		t.Errorf("close code %d, want 1009", code)
	}
}

// runServer runs s (its poller and sweep) until the test ends.
func runServer(t *testing.T, s *Server) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// expectPong reads a pusher:pong from the client's end.
func expectPong(t *testing.T, client net.Conn) {
	t.Helper()
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, payload, err := readServerFrame(client)
	if err != nil || string(payload) != `{"event":"pusher:pong"}` {
		t.Fatalf("got %q, %v; want a pusher:pong", payload, err)
	}
}

var pingFrame = clientFrame(ws.NewTextFrame([]byte(`{"event":"pusher:ping","data":{}}`)))

// Wake-ups run on reader goroutines that stay, idle, for the next ones while Run runs; a
// wake-up never waits for a busy reader (one waiting for the rest of a frame), and the idle
// readers end with Run.
func TestReaderPool(t *testing.T) {
	s := raceServer(t, Params{})
	stop := runServer(t, s)
	slow, slowClient := socketConn(t, s)
	c, client := socketConn(t, s)
	for _, conn := range []*Conn{slow, c} {
		if err := conn.watch(); err != nil {
			t.Fatal(err)
		}
	}

	for range 3 {
		if _, err := client.Write(pingFrame); err != nil {
			t.Fatal(err)
		}
		expectPong(t, client)
		waitFor(t, "an idle reader", func() bool { return s.readers.idle.Load() == 1 })
	}

	// A reader waits for the rest of slow's frame; c's ping is still answered at once.
	if _, err := slowClient.Write(pingFrame[:5]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idle reader to take the slow frame", func() bool { return s.readers.idle.Load() == 0 })
	if _, err := client.Write(pingFrame); err != nil {
		t.Fatal(err)
	}
	expectPong(t, client)
	if _, err := slowClient.Write(pingFrame[5:]); err != nil {
		t.Fatal(err)
	}
	expectPong(t, slowClient)
	waitFor(t, "both readers idle", func() bool { return s.readers.idle.Load() == 2 })

	stop()
	waitFor(t, "the idle readers to end", func() bool { return s.readers.idle.Load() == 0 })
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 5 s", what)
		}
	}
}

// A frame whose rest does not arrive within the read timeout ends the connection, whether
// its first bytes came alone or after a whole frame in the same read.
func TestReaderTimesOutOnAnIncompleteFrame(t *testing.T) {
	s := raceServer(t, Params{ReadTimeout: 200 * time.Millisecond})
	runServer(t, s)
	for _, sent := range [][]byte{pingFrame[:5], append(bytes.Clone(pingFrame), pingFrame[:5]...)} {
		c, client := socketConn(t, s)
		if err := c.watch(); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Write(sent); err != nil {
			t.Fatal(err)
		}
		if len(sent) > len(pingFrame) {
			expectPong(t, client)
		}
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := readServerFrame(client); err != io.EOF {
			t.Errorf("after %d bytes: read %v, want the connection closed (EOF)", len(sent), err)
		}
	}
}
