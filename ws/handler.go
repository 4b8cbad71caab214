package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/reverbd/reverbd/registry/metrics"
)

// What one client can make the server log is limited: logBurst lines at their level, then one
// more every logInterval; the rest go to debug and are counted on the next line let through.
const (
	logBurst    = 5
	logInterval = 10 * time.Second
)

// clientMessage is one frame from a client (Pusher's WebSocket protocol docs). Decoded by
// decodeMessage, Data may alias the frame's bytes, which are reused once handleMessage
// returns: what outlives the message is copied.
type clientMessage struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// handleMessage dispatches one text message from the client. Malformed input is answered
// with a pusher:error and never ends the connection (Pusher's WebSocket protocol docs).
func (c *Conn) handleMessage(b []byte) {
	if c.rateLimited() {
		return
	}
	msg, ok := decodeMessage(b)
	if !ok || msg.Event == "" {
		c.logClient(slog.LevelInfo, "invalid message", "size", len(b))
		c.Send(errorFrame(errInvalidMessage))
		return
	}
	switch {
	case msg.Event == "pusher:ping":
		c.Send(framePong)
	case msg.Event == "pusher:pong":
		// Activity was recorded when the frame arrived.
	case msg.Event == "pusher:subscribe":
		c.subscribe(unwrapData(msg.Data))
	case msg.Event == "pusher:unsubscribe":
		c.unsubscribe(unwrapData(msg.Data))
	case msg.Event == "pusher:signin":
		c.signin(unwrapData(msg.Data))
	case strings.HasPrefix(msg.Event, "client-"):
		c.clientEvent(&msg)
	case strings.HasPrefix(msg.Event, "pusher:"):
		c.logClient(slog.LevelInfo, "unknown pusher event", "event", msg.Event)
		c.Send(errorFrame(errInvalidMessage))
	default:
		// Any other event from a client is ignored, as Reverb does.
	}
}

// unwrapData accepts data as an object or as a JSON string holding one. The
// result may alias raw.
func unwrapData(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if s, ok := stringBytes(raw); ok {
			return s
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return json.RawMessage(s)
		}
	}
	return raw
}

// rateLimited applies the app's rate_limiting to every inbound message: past max_attempts in
// decay_seconds the message is refused with 4301, and the connection is closed too when
// terminate_on_limit is set (with 4100, so the client backs off instead of stopping).
func (c *Conn) rateLimited() bool {
	rl := &c.App().RateLimiting
	if !rl.Enabled || rl.MaxAttempts <= 0 {
		return false
	}
	now := time.Now().UnixNano()
	window := int64(max(rl.DecaySeconds, 1)) * int64(time.Second)
	if now-c.rateStart >= window {
		c.rateStart, c.rateCount = now, 0
	}
	if int(c.rateCount) <= rl.MaxAttempts {
		c.rateCount++ // stops one past the limit, so it cannot wrap
	}
	if int(c.rateCount) <= rl.MaxAttempts {
		return false
	}
	c.logClient(slog.LevelInfo, "rate limit exceeded")
	c.stats.LimitHit(metrics.LimitRateLimit)
	c.Send(errorFrame(errRateLimited))
	if rl.TerminateOnLimit {
		c.closeWith(4100, closeFrame(4100, errRateLimited.Message))
	}
	return true
}

// logClient logs something a client caused (bad input, a refusal, an error while serving
// it) with the app and socket ids, within this connection's share of log lines: a flood of
// bad frames becomes a few lines, the rest at debug. Called by the goroutine reading c.
func (c *Conn) logClient(level slog.Level, msg string, args ...any) {
	now := time.Now().UnixNano()
	tat := max(c.logTAT, now)
	if tat-now > (logBurst-1)*int64(logInterval) {
		c.logSuppressed++
		level = slog.LevelDebug
	} else {
		c.logTAT = tat + int64(logInterval)
		if c.logSuppressed > 0 {
			args = append(args, "suppressed", c.logSuppressed)
			c.logSuppressed = 0
		}
	}
	log := c.srv.log
	if !log.Enabled(context.Background(), level) {
		return
	}
	log.Log(context.Background(), level, msg, append([]any{"app_id", c.App().ID, "socket_id", c.id}, args...)...)
}
