package ws

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A burst of frames grows a connection's queue; once written, the connection keeps no
// array bigger than keptQueueCap, and the client has every frame in order. Both writing
// paths are covered: the writer pool's writev, and the drain goroutine after a full socket.
func TestQueueArrayDroppedAfterBurst(t *testing.T) {
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("socket full %v", full), func(t *testing.T) {
			s := raceServer(t, Params{})
			c, client := socketConn(t, s)
			if full {
				// A small send buffer, filled before the burst: the writer finds the socket
				// full and hands the queue to a drain goroutine.
				if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
					t.Fatal(err)
				}
			}
			const n = 50
			var want []string
			c.wmu.Lock()
			c.scheduled = true // as if waiting in the writer pool: Send only appends
			c.wmu.Unlock()
			for i := range n {
				data := fmt.Sprintf(`{"i":%d,"pad":"%0500d"}`, i, 0)
				c.Send(eventFrame("e", "", data))
				want = append(want, data)
			}
			c.wmu.Lock()
			if cap(c.queue) < n {
				t.Fatalf("queue cap %d after %d frames", cap(c.queue), n)
			}
			c.wmu.Unlock()
			var iov []unix.Iovec
			c.writeQueued(&iov)

			_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
			for i := range n {
				_, payload, err := readServerFrame(client)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if got := string(payload); got != string(eventPayload(nil, "e", "", want[i])) {
					t.Fatalf("frame %d = %s", i, got)
				}
			}
			s.wg.Wait() // the drain goroutine, if any, has returned
			s.writers.waitIdle()
			c.wmu.Lock()
			defer c.wmu.Unlock()
			if len(c.queue) != 0 || c.scheduled || c.writing {
				t.Fatalf("queue not written: %d frames, scheduled %v, writing %v", len(c.queue), c.scheduled, c.writing)
			}
			if cap(c.queue) > keptQueueCap || cap(c.spare) > keptQueueCap {
				t.Errorf("kept arrays of cap %d (queue) and %d (spare) after the burst", cap(c.queue), cap(c.spare))
			}
		})
	}
}
