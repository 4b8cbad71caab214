package ws

import (
	"context"
	"time"

	"github.com/gobwas/ws"
)

// livenessAction is what the sweep does to one connection.
type livenessAction int

const (
	livenessNone livenessAction = iota
	livenessPing                // silent for ping_interval: ping it
	livenessDead                // pinged and silent for the pong window: close with 4201
)

// checkLiveness decides, from the time of the last received frame and of the unanswered
// ping (0 if none), what to do with a connection (Pusher's WebSocket protocol docs). Every connection
// is checked, subscribed or not.
func checkLiveness(now, lastSeen, pingedAt time.Time, pingInterval, pongWindow time.Duration) livenessAction {
	if pingInterval <= 0 {
		return livenessNone
	}
	if !pingedAt.IsZero() {
		if pingedAt.After(lastSeen) && now.Sub(pingedAt) >= pongWindow {
			return livenessDead
		}
		return livenessNone
	}
	if now.Sub(lastSeen) >= pingInterval {
		return livenessPing
	}
	return livenessNone
}

// sweep checks every connection's liveness each sweepInterval until ctx ends, and returns
// memory to the kernel after a burst of connections (see burstRelease).
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(s.sweepInterval)
	defer t.Stop()
	var burst burstRelease
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.conns.each(func(c *Conn) {
				c.checkLiveness(now)
				c.checkAuthorized(now)
			})
			if n := s.conns.len(); burst.observe(now, n, s.hub.subscriptions()) {
				s.releaseMemory(n)
			}
		}
	}
}

var frameControlPing = ws.MustCompileFrame(ws.NewPingFrame(nil))

func (c *Conn) checkLiveness(now time.Time) {
	var pingedAt time.Time
	if p := c.pingedAt.Load(); p != 0 {
		pingedAt = time.Unix(0, p)
	}
	switch checkLiveness(now, time.Unix(0, c.lastSeen.Load()), pingedAt, c.App().PingInterval, c.App().PongWindow()) {
	case livenessPing:
		c.pingedAt.Store(now.UnixNano())
		if c.controlPinger.Load() {
			c.Send(frameControlPing)
		} else {
			c.Send(framePing)
		}
	case livenessDead:
		c.srv.log.Info("pong reply not received", "app_id", c.App().ID, "socket_id", c.id)
		c.close(errPongTimeout)
	}
}
