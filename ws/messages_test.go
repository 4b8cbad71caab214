package ws_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/reverbd/reverbd/config"
	rws "github.com/reverbd/reverbd/ws"
)

func TestClientEvents(t *testing.T) {
	e := newEnv(t, rws.Params{})
	a, b, outsider := e.connect(t), e.connect(t), e.connect(t)
	a.subscribe("private-chat", "")
	b.subscribe("private-chat", "")
	a.subscribe("presence-room", `{"user_id":"7"}`)
	b.subscribe("presence-room", `{"user_id":"9"}`)
	if f := a.read(); f.Event != "pusher_internal:member_added" {
		t.Fatalf("a got %+v", f)
	}
	a.subscribe("orders", "")

	t.Run("private relayed unchanged, not echoed", func(t *testing.T) {
		a.sendRaw([]byte(`{"event":"client-typing","channel":"private-chat","data":{"typing":true,"n":1.50}}`))
		f := b.read()
		if f.Event != "client-typing" || f.Channel != "private-chat" || string(f.Data) != `{"typing":true,"n":1.50}` || f.UserID != "" {
			t.Errorf("b got %+v", f)
		}
	})
	t.Run("presence carries user_id", func(t *testing.T) {
		a.sendRaw([]byte(`{"event":"client-typing","channel":"presence-room","data":"plain string"}`))
		f := b.read()
		if f.UserID != "7" || string(f.Data) != `"plain string"` {
			t.Errorf("b got %+v (data %s)", f, f.Data)
		}
	})
	// a must not have received its own events: the next frame it reads is this pong.
	a.send(map[string]any{"event": "pusher:ping"})
	if f := a.read(); f.Event != "pusher:pong" {
		t.Errorf("sender got %+v, want its events never echoed", f)
	}

	refusals := []struct {
		name string
		from *client
		msg  string
		code int
	}{
		{"public channel", a, `{"event":"client-x","channel":"orders","data":{}}`, 4301},
		{"encrypted channel", a, `{"event":"client-x","channel":"private-encrypted-x","data":{}}`, 4301},
		{"not a member", outsider, `{"event":"client-x","channel":"private-chat","data":{}}`, 4009},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			tc.from.sendRaw([]byte(tc.msg))
			if code, _ := errorOf(t, tc.from.read()); code != tc.code {
				t.Errorf("code = %d, want %d", code, tc.code)
			}
		})
	}
	deliver(e, "private-chat", "marker", `"m"`, "")
	if f := b.read(); f.Event != "marker" {
		t.Errorf("b got %+v, want nothing relayed from refused client events", f)
	}
}

func TestClientEventsDisabled(t *testing.T) {
	app := testApp()
	app.AcceptClientEventsFrom = config.ClientEventsNone
	e := newEnv(t, rws.Params{}, app)
	c := e.connect(t)
	c.subscribe("private-chat", "")
	c.sendRaw([]byte(`{"event":"client-x","channel":"private-chat","data":{}}`))
	if code, msg := errorOf(t, c.read()); code != 4301 || msg != "The app does not have client messaging enabled." {
		t.Errorf("got %d %q", code, msg)
	}
}

func TestInvalidMessagesKeepTheConnection(t *testing.T) {
	e := newEnv(t, rws.Params{})
	c := e.connect(t)
	for _, msg := range []string{
		`not json`,
		`{"data":{}}`,
		`{"event":42}`,
		`{"event":"pusher:nonsense","data":{}}`,
		`{"event":"pusher:subscribe","data":"not an object"}`,
		`{"event":"pusher:subscribe","data":{"channel":7}}`,
		`{"event":"client-x","channel":7}`,
	} {
		c.sendRaw([]byte(msg))
		if code, text := errorOf(t, c.read()); code != 4200 || text != "Invalid message format" {
			t.Errorf("%s: got %d %q, want 4200", msg, code, text)
		}
	}
	// A data string holding JSON is accepted like an object.
	c.sendRaw([]byte(`{"event":"pusher:subscribe","data":"{\"channel\":\"orders\"}"}`))
	if f := c.read(); f.Event != "pusher_internal:subscription_succeeded" || f.Channel != "orders" {
		t.Errorf("string data subscribe: %+v", f)
	}
	c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	if f := c.read(); f.Event != "pusher:pong" {
		t.Errorf("got %+v, want pusher:pong", f)
	}
}

func TestOversizedMessageCloses1009(t *testing.T) {
	app := testApp()
	app.MaxMessageSize = 100
	e := newEnv(t, rws.Params{}, app)
	c, other := e.connect(t), e.connect(t)
	other.subscribe("orders", "")
	// The server may close before the whole message is written: ignore the write's error.
	_ = wsutil.WriteClientText(c.conn, []byte(`{"event":"client-x","channel":"private-a","data":"`+strings.Repeat("x", 200)+`"}`))
	if code, _ := c.expectClose(); code != 1009 {
		t.Errorf("close code = %d, want 1009", code)
	}
	deliver(e, "orders", "still", `"here"`, "")
	if f := other.read(); f.Event != "still" {
		t.Errorf("other client got %+v", f)
	}
}

func TestControlPingGetsPong(t *testing.T) {
	e := newEnv(t, rws.Params{})
	c := e.connect(t)
	if err := ws.WriteFrame(c.conn, ws.MaskFrame(ws.NewPingFrame([]byte("hi")))); err != nil {
		t.Fatal(err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, err := ws.ReadHeader(c.rw)
	if err != nil {
		t.Fatal(err)
	}
	if h.OpCode != ws.OpPong {
		t.Errorf("opcode = %v, want pong", h.OpCode)
	}
}

func TestSilentConnectionIsPingedThenClosed(t *testing.T) {
	app := testApp()
	app.PingInterval = 200 * time.Millisecond
	e := newEnv(t, rws.Params{SweepInterval: 20 * time.Millisecond}, app)
	c := e.connect(t)
	if f := c.read(); f.Event != "pusher:ping" {
		t.Fatalf("got %+v, want pusher:ping", f)
	}
	code, frames := c.expectClose()
	if code != 4201 || len(frames) != 1 {
		t.Fatalf("close %d after %v, want a 4201 error then close 4201", code, frames)
	}
	if got, _ := errorOf(t, frames[0]); got != 4201 {
		t.Errorf("error code %d", got)
	}
}

func TestAnsweredPingKeepsTheConnection(t *testing.T) {
	app := testApp()
	app.PingInterval = 200 * time.Millisecond
	e := newEnv(t, rws.Params{SweepInterval: 20 * time.Millisecond}, app)
	c := e.connect(t)
	for range 3 {
		if f := c.read(); f.Event != "pusher:ping" {
			t.Fatalf("got %+v, want pusher:ping", f)
		}
		c.send(map[string]any{"event": "pusher:pong", "data": map[string]any{}})
	}
}

func TestShutdownClosesWith4200(t *testing.T) {
	e := newEnv(t, rws.Params{})
	c := e.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { _ = e.srv.Shutdown(ctx) }()
	code, frames := c.expectClose()
	if code != 4200 || len(frames) != 1 {
		t.Fatalf("close %d after %v", code, frames)
	}
}

func TestSlowConsumerIsDropped(t *testing.T) {
	e := newEnv(t, rws.Params{WriteLimit: 64 << 10})
	slow, fast := e.connect(t), e.connect(t)
	slow.subscribe("orders", "")
	fast.subscribe("orders", "")
	payload := `"` + strings.Repeat("x", 8<<10) + `"`
	// The slow client never reads; the kernel buffers absorb a few MiB, then its queue fills.
	for i := 0; e.srv.Stats().SlowConsumers == 0; i++ {
		if i > 10000 {
			t.Fatal("slow consumer was never dropped")
		}
		deliver(e, "orders", "big", payload, fast.socketID)
	}
	deliver(e, "orders", "after", `"1"`, "")
	if f := fast.read(); f.Event != "after" {
		t.Errorf("fast client got %+v", f)
	}
}

func TestRateLimiting(t *testing.T) {
	for _, terminate := range []bool{false, true} {
		t.Run(map[bool]string{false: "refuse", true: "terminate"}[terminate], func(t *testing.T) {
			app := testApp()
			app.RateLimiting = config.RateLimiting{Enabled: true, MaxAttempts: 3, DecaySeconds: 60, TerminateOnLimit: terminate}
			e := newEnv(t, rws.Params{}, app)
			c := e.connect(t)
			for range 3 {
				c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
				if f := c.read(); f.Event != "pusher:pong" {
					t.Fatalf("within the limit got %+v", f)
				}
			}
			c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
			if code, msg := errorOf(t, c.read()); code != 4301 || msg != "Rate limit exceeded" {
				t.Fatalf("over the limit: %d %q", code, msg)
			}
			if terminate {
				if code, _ := c.expectClose(); code != 4100 {
					t.Errorf("close code %d, want 4100 (reconnect after backing off)", code)
				}
				return
			}
			// The connection stays open and keeps refusing within the window.
			c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
			if code, _ := errorOf(t, c.read()); code != 4301 {
				t.Errorf("still over the limit: code %d", code)
			}
		})
	}
}
