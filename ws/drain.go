package ws

import (
	"context"
	"math/rand/v2"
	"time"
)

// drainTick is the shortest wait between two rounds of closes while draining: connections
// whose time comes within it are closed in the same round.
const drainTick = 2 * time.Millisecond

// closeSpread closes every open connection with 4200, spread over window so that their
// clients reconnect a few at a time instead of all in the same millisecond (pusher-js
// reconnects at once on 4200, without jitter). The window is cut into one slot per
// connection, and each connection is closed at a random moment of its slot: evenly spread,
// with jitter. Connections subscribed to nothing take the first slots (their clients cost
// the least to reconnect, and leave nothing behind); within each group the order is random.
// When window is 0, or once hurry is closed or ctx ends, the connections left are closed at
// once.
func (s *Server) closeSpread(ctx context.Context, window time.Duration, hurry <-chan struct{}) {
	var idle, subscribed []*Conn
	s.conns.each(func(c *Conn) {
		if c.subscribed() {
			subscribed = append(subscribed, c)
		} else {
			idle = append(idle, c)
		}
	})
	order := append(shuffled(idle), shuffled(subscribed)...)
	if len(order) == 0 {
		return
	}
	s.log.Info("closing connections", "connections", len(order), "unsubscribed", len(idle), "over", window)
	if window <= 0 {
		closeAll(order)
		return
	}
	slot := window / time.Duration(len(order))
	start := time.Now()
	timer := time.NewTimer(window)
	defer timer.Stop()
	for i, c := range order {
		at := start.Add(slot*time.Duration(i) + rand.N(slot+1))
		if wait := time.Until(at); wait > drainTick {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				closeAll(order[i:])
				return
			case <-hurry:
				closeAll(order[i:])
				return
			}
		}
		c.close(errShutdown)
	}
}

// shuffled returns conns in a random order.
func shuffled(conns []*Conn) []*Conn {
	rand.Shuffle(len(conns), func(i, j int) { conns[i], conns[j] = conns[j], conns[i] })
	return conns
}

// closeAll closes each connection with 4200.
func closeAll(conns []*Conn) {
	for _, c := range conns {
		c.close(errShutdown)
	}
}

// subscribed reports whether the connection is subscribed to a channel.
func (c *Conn) subscribed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.channels) > 0
}
