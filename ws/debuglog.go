package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/reverbd/reverbd/registry"
)

// The debug log (REVERB_DEBUG) has one line for each connection's open and close, each
// message a client sends and each frame queued for a client, and each delivery of a
// trigger. The server decides once, in New, whether its logger takes debug records: with
// debug off, the paths that read and write frames pay one test of a bool that never
// changes and nothing else.

// maxLoggedData is the most bytes of a message's data a debug line shows.
const maxLoggedData = 256

// redacted replaces the signature of an auth value in the debug log.
const redacted = "[redacted]"

// Debug log messages.
const (
	logOpened    = "connection opened"
	logClosed    = "connection closed"
	logReceived  = "message received"
	logQueued    = "frame queued"
	logDelivered = "event delivered"
)

// logOpened logs a connection that was accepted, before its first frame.
func (c *Conn) logOpened(origin string) {
	c.srv.log.Debug(logOpened, "app_id", c.App().ID, "socket_id", c.id,
		"remote_addr", c.nc.RemoteAddr().String(), "origin", origin)
}

// logClosed logs a released connection with the code of the close frame it ended with,
// whichever side sent it first, or closeAbnormal.
func (c *Conn) logClosed(code uint16) {
	if code == 0 {
		code = closeAbnormal
	}
	c.srv.log.Debug(logClosed, "app_id", c.App().ID, "socket_id", c.id, "code", int(code))
}

// logReceived logs one message from the client: its event, channel, size and data, with the
// signature of an auth value redacted. A message that is not a JSON object is logged with its
// size alone.
func (c *Conn) logReceived(msg []byte) {
	args := []any{"app_id", c.App().ID, "socket_id", c.id}
	c.srv.log.Debug(logReceived, append(args, messageAttrs(msg, true)...)...)
}

// logQueued logs each frame in b, which a Send queued: the frames the server compiles
// (unmasked), the first possibly after the HTTP 101 response that leaves with it.
func (c *Conn) logQueued(b []byte) {
	if bytes.HasPrefix(b, []byte("HTTP/")) {
		end := bytes.Index(b, []byte("\r\n\r\n"))
		if end < 0 {
			return
		}
		b = b[end+4:]
	}
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		h, err := ws.ReadHeader(r)
		if err != nil || h.Length > int64(r.Len()) {
			return
		}
		start := len(b) - r.Len()
		payload := b[start : start+int(h.Length)]
		_, _ = r.Seek(h.Length, 1)
		args := []any{"app_id", c.App().ID, "socket_id", c.id}
		switch h.OpCode {
		case ws.OpText:
			args = append(args, messageAttrs(payload, false)...)
		case ws.OpClose:
			code := ws.StatusNoStatusRcvd
			if len(payload) >= 2 {
				code = ws.StatusCode(uint16(payload[0])<<8 | uint16(payload[1]))
			}
			args = append(args, "opcode", "close", "code", int(code), "size", len(payload))
		case ws.OpPing:
			args = append(args, "opcode", "ping", "size", len(payload))
		case ws.OpPong:
			args = append(args, "opcode", "pong", "size", len(payload))
		default:
			args = append(args, "opcode", int(h.OpCode), "size", len(payload))
		}
		c.srv.log.Debug(logQueued, args...)
	}
}

// messageAttrs are the log attributes of a Pusher message: event, channel, size and data
// (a data string unquoted), cut to maxLoggedData bytes. From a client (inbound set), the
// signature of an auth value in a pusher:subscribe or pusher:signin is redacted, and a
// message that is not a JSON object shows its size alone.
func messageAttrs(b []byte, inbound bool) []any {
	var msg clientMessage
	if err := json.Unmarshal(b, &msg); err != nil {
		return []any{"size", len(b), "invalid", true}
	}
	data := unwrapData(msg.Data)
	channel := msg.Channel
	if inbound && (msg.Event == "pusher:subscribe" || msg.Event == "pusher:unsubscribe" || msg.Event == "pusher:signin") {
		var ch string
		ch, data = redactAuth(data)
		if channel == "" {
			channel = ch
		}
	}
	args := make([]any, 0, 8)
	args = append(args, "event", msg.Event)
	if channel != "" {
		args = append(args, "channel", channel)
	}
	args = append(args, "size", len(b))
	if len(data) > 0 {
		args = append(args, "data", cut(data, maxLoggedData))
	}
	return args
}

// redactAuth returns the channel named in data, a JSON object, and data with the signature of
// its auth value (what follows the app key and colon) replaced. Data that is not an object
// is replaced whole, as it may hold a signature all the same.
func redactAuth(data []byte) (channel string, out []byte) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return "", []byte(redacted)
	}
	for name, v := range fields {
		switch {
		case strings.EqualFold(name, "channel"):
			_ = json.Unmarshal(v, &channel)
		case strings.EqualFold(name, "auth"): // in any case, as the server reads it
			var s string
			_ = json.Unmarshal(v, &s)
			value := redacted
			if key, _, signed := strings.Cut(s, ":"); signed {
				value = key + ":" + redacted
			}
			fields[name] = json.RawMessage(JSONString(value))
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(fields) != nil {
		return channel, []byte(redacted)
	}
	return channel, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// cut returns b as a string of at most limit bytes, cut at a character boundary and marked
// with "…" when shortened.
func cut(b []byte, limit int) string {
	if len(b) <= limit {
		return string(b)
	}
	n := limit
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + "…"
}

// logDelivered logs one delivery of a trigger on this node: its latency from the API's
// acceptance to the end of the local fan-out, and the fan-out's part of it.
func (h *Hub) logDelivered(ev *registry.Event, fanoutStart time.Time) {
	now := time.Now()
	h.log.LogAttrs(context.Background(), slog.LevelDebug, logDelivered,
		slog.String("app_id", ev.AppID), slog.String("event", ev.Name), slog.Any("channels", ev.Channels),
		slog.Int("size", len(ev.Data)), slog.Duration("latency", now.Sub(ev.QueuedAt)),
		slog.Duration("fanout", now.Sub(fanoutStart)))
}
