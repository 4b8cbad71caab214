package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
)

// captureConn is a net.Conn that keeps what is written to it.
type captureConn struct {
	discardConn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *captureConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// capturedConn registers a connection without a socket on s, whose frames are kept in the
// captureConn returned with it.
func capturedConn(s *Server) (*Conn, *captureConn) {
	out := &captureConn{}
	return registerConn(s, &Conn{srv: s, nc: out, fd: -1}), out
}

// eventsOnceWritten waits (up to 5 seconds) until out holds at least as many frames as want,
// then a little longer, room for a frame too many, and returns its events.
func eventsOnceWritten(t *testing.T, out *captureConn, want []string) []string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(out.events(t)) < len(want) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	return out.events(t)
}

// events returns "event:data" for each text frame written so far (data unquoted when it is a
// JSON string), and "opcode:n" for other frames.
func (c *captureConn) events(t *testing.T) []string {
	t.Helper()
	c.mu.Lock()
	r := bytes.NewReader(c.buf.Bytes())
	c.mu.Unlock()
	var out []string
	for {
		h, err := ws.ReadHeader(r)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(r, payload); err != nil {
			t.Fatal(err)
		}
		if h.OpCode != ws.OpText {
			out = append(out, "opcode:"+strconv.Itoa(int(h.OpCode)))
			continue
		}
		var m struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatalf("frame %s: %v", payload, err)
		}
		data := string(m.Data)
		var s string
		if json.Unmarshal(m.Data, &s) == nil {
			data = s
		}
		out = append(out, m.Event+":"+data)
	}
}

// Each interleaving of a cache-channel subscribe with deliveries, step by step: the
// subscriber sees succeeded, the cached event or a miss, then newer events only, each once.
func TestGateOrdersCachedAndLiveEvents(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ev := func(n int) registry.Event {
		return registry.Event{AppID: "1", Channels: []string{"cache-x"}, Name: "tick", Data: string(rune('0' + n)), QueuedAt: t0.Add(time.Duration(n))}
	}
	cachedOf := func(n int) *registry.CachedEvent {
		e := ev(n)
		return &registry.CachedEvent{Event: e.Name, Data: e.Data, QueuedAt: e.QueuedAt}
	}
	cases := []struct {
		name          string
		before, after []int // triggers delivered between join and settle, and after settle
		cached        int   // 0: cache miss
		client        bool  // a client event is published between join and settle
		want          []string
	}{
		{"cached before join", []int{2}, []int{3}, 1, false, []string{"tick:1", "tick:2", "tick:3"}},
		{"cached among the held", []int{1, 2, 3}, []int{4}, 2, false, []string{"tick:2", "tick:3", "tick:4"}},
		{"cached delivered after settle", []int{1}, []int{2, 3}, 2, false, []string{"tick:2", "tick:3"}},
		{"cached never delivered here", nil, []int{3, 4}, 2, false, []string{"tick:2", "tick:3", "tick:4"}},
		{"miss", []int{1}, []int{2}, 0, false, []string{"pusher:cache_miss:", "tick:1", "tick:2"}},
		{"client event held", []int{1}, []int{2}, 2, true, []string{"tick:2", "client-x:hi"}},
	}
	app := config.App{ID: "1", Key: "k", Secret: "s"}
	s, err := New(Params{Apps: registry.NewApps([]config.App{app}), Occupancy: registry.NewMemoryOccupancy()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, out := capturedConn(s)
			s.hub.join("1", "cache-x", c, "", eventFrame("pusher_internal:subscription_succeeded", "cache-x", "{}"), true)
			for _, n := range tc.before {
				s.hub.Deliver(context.Background(), ev(n))
			}
			if tc.client {
				s.hub.publish("1", "cache-x", "", func() []byte { return textFrame(eventPayload(nil, "client-x", "cache-x", "hi")) })
			}
			if tc.cached == 0 {
				s.hub.settle("1", "cache-x", c, registry.CachedEvent{}, false)
			} else {
				s.hub.settle("1", "cache-x", c, *cachedOf(tc.cached), true)
			}
			for _, n := range tc.after {
				s.hub.Deliver(context.Background(), ev(n))
			}
			s.writers.waitIdle()
			s.wg.Wait() // the drain goroutine of a connection without a socket
			defer func() {
				s.hub.remove("1", "cache-x", c)
				c.release()
			}()
			want := append([]string{"pusher_internal:subscription_succeeded:{}"}, tc.want...)
			if got := out.events(t); !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}
