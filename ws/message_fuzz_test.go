package ws

import (
	"testing"

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
		out := &captureConn{}
		c := &Conn{srv: s, app: s.apps.All()[0], nc: out, fd: -1}
		s.live.Add(1)
		c.id = s.conns.add(c)
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
