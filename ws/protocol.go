package ws

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Error is a Pusher protocol error: it becomes a pusher:error frame with its code
// (Pusher's WebSocket protocol docs).
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return strconv.Itoa(e.Code) + " " + e.Message }

// Protocol errors the server sends. Codes and texts follow Pusher's WebSocket protocol docs.
var (
	errUnknownApp        = &Error{4001, "Application does not exist"}
	errOverQuota         = &Error{4004, "Application is over connection quota"}
	errUnsupportedProto  = &Error{4007, "Unsupported protocol version"}
	errOriginNotAllowed  = &Error{4009, "Origin not allowed"}
	errNotMember         = &Error{4009, "The client is not a member of the specified channel."}
	errSigninRefused     = &Error{4009, "Connection not authorized."}
	errSigninNoID        = &Error{4009, `The returned user data must contain the "id" field.`}
	errTerminated        = &Error{4009, "You got disconnected by the app."}
	errWatchlistInvalid  = &Error{4009, `The user data's "watchlist" must be an array of user ids.`}
	errNotAuthorizedYet  = &Error{4009, "Connection not authorized within timeout."}
	errSlowConsumer      = &Error{4100, "Connection is too slow to receive its messages"}
	errInvalidMessage    = &Error{4200, "Invalid message format"}
	errShutdown          = &Error{4200, "Server closed. Please reconnect shortly."}
	errPongTimeout       = &Error{4201, "Pong reply not received in time"}
	errClientEventsOff   = &Error{4301, "The app does not have client messaging enabled."}
	errClientEventsKind  = &Error{4301, "Client events are only accepted on private and presence channels."}
	errRateLimited       = &Error{4301, "Rate limit exceeded"}
	errClientEventTooBig = &Error{4301, "Client event name is too long."}
)

// Frames with no variable part, compiled once.
var (
	framePong = textFrame([]byte(`{"event":"pusher:pong"}`))
	framePing = textFrame([]byte(`{"event":"pusher:ping"}`))

	frameSlowError = errorFrame(errSlowConsumer)
	frameSlowClose = closeFrame(errSlowConsumer.Code, errSlowConsumer.Message)
)

// textFrame compiles payload into one unmasked WebSocket text frame, in a buffer of its exact
// size.
func textFrame(payload []byte) []byte {
	b := make([]byte, 0, textHeaderLen(len(payload))+len(payload))
	return append(appendTextHeader(b, len(payload)), payload...)
}

// textHeaderLen is the size of the header of an unmasked frame of n payload bytes
// (RFC 6455 §5.2).
func textHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

// appendTextHeader appends the header of a final, unmasked text frame of n payload bytes
// (RFC 6455 §5.2): FIN and opcode 1, then the length in 7, 7+16 or 7+64 bits.
func appendTextHeader(b []byte, n int) []byte {
	switch {
	case n < 126:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x81, 126, byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0x81, 127), uint64(n))
}

// closeFrame compiles a close frame with code and reason.
func closeFrame(code int, reason string) []byte {
	return ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusCode(code), reason)))
}

// errorFrame encodes e as pusher:error, data as a JSON string (Reverb's form).
func errorFrame(e *Error) []byte {
	data := []byte(`{"code":`)
	data = strconv.AppendInt(data, int64(e.Code), 10)
	data = append(data, `,"message":`...)
	data = appendJSONString(data, e.Message)
	data = append(data, '}')
	return textFrame(eventPayload(nil, "pusher:error", "", string(data)))
}

// eventPayload appends {"event":name,"channel":channel,"data":"<data as a JSON string>"}
// to b; channel is omitted when empty. data is relayed as the string value, unchanged.
func eventPayload[D ~string | ~[]byte](b []byte, name, channel string, data D) []byte {
	b = append(b, `{"event":`...)
	b = appendJSONString(b, name)
	if channel != "" {
		b = append(b, `,"channel":`...)
		b = appendJSONString(b, channel)
	}
	b = append(b, `,"data":`...)
	b = appendJSONString(b, data)
	return append(b, '}')
}

// newEventPayload is eventPayload in a buffer of its exact size.
func newEventPayload[D ~string | ~[]byte](name, channel string, data D) []byte {
	return eventPayload(make([]byte, 0, eventPayloadLen(name, channel, data)), name, channel, data)
}

// eventPayloadLen is the length of eventPayload's output for name, channel and data.
func eventPayloadLen[D ~string | ~[]byte](name, channel string, data D) int {
	n := len(`{"event":`) + jsonStringLen(name) + len(`,"data":`) + jsonStringLen(data) + len(`}`)
	if channel != "" {
		n += len(`,"channel":`) + jsonStringLen(channel)
	}
	return n
}

// eventFrame is the compiled frame of one event on one channel, built in one buffer of its
// exact size.
func eventFrame[D ~string | ~[]byte](name, channel string, data D) []byte {
	n := eventPayloadLen(name, channel, data)
	b := make([]byte, 0, textHeaderLen(n)+n)
	return eventPayload(appendTextHeader(b, n), name, channel, data)
}

// escapedEventFrame is eventFrame for data given already escaped as the content of a JSON
// string.
func escapedEventFrame(name, channel string, escaped []byte) []byte {
	n := eventPayloadLen(name, channel, "") + len(escaped)
	b := make([]byte, 0, textHeaderLen(n)+n)
	b = eventPayload(appendTextHeader(b, n), name, channel, "")
	b = append(b[:len(b)-2], escaped...) // in place of the empty data's closing quote and brace
	return append(b, `"}`...)
}

// prefixedEventFrame is eventFrame after prefix, in one buffer of their exact size.
func prefixedEventFrame(prefix []byte, name, channel, data string) []byte {
	n := eventPayloadLen(name, channel, data)
	b := append(make([]byte, 0, len(prefix)+textHeaderLen(n)+n), prefix...)
	return eventPayload(appendTextHeader(b, n), name, channel, data)
}

// channelFrame is a frame with an event and channel and no data, e.g. pusher:cache_miss.
func channelFrame(name, channel string) []byte {
	b := append([]byte(`{"event":`), appendJSONString(nil, name)...)
	b = append(b, `,"channel":`...)
	b = appendJSONString(b, channel)
	return textFrame(append(b, '}'))
}

// subscriptionErrorFrame is the channel-scoped refusal pusher-js hands to the channel's
// pusher:subscription_error bindings (Pusher's WebSocket protocol docs).
func subscriptionErrorFrame(channel, typ, message string, status int) []byte {
	b := append([]byte(`{"event":"pusher:subscription_error","channel":`), appendJSONString(nil, channel)...)
	b = append(b, `,"data":{"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"error":`...)
	b = appendJSONString(b, message)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return textFrame(append(b, "}}"...))
}

// mustJSON encodes v, which is built by this package and always encodable.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Unlike encoding/json it leaves <, > and &
// alone, so relayed payloads keep their bytes; invalid UTF-8 becomes U+FFFD.
// jsonStringLen must follow the same rules.
func appendJSONString[S ~string | ~[]byte](b []byte, s S) []byte {
	return append(appendJSONStringContent(append(b, '"'), s), '"')
}

// appendJSONStringContent is appendJSONString without the quotes. Escaping works byte by
// byte, and rune by rune for UTF-8, so the content of a text made of pieces joined by ASCII
// is the pieces' contents joined by the same ASCII.
func appendJSONStringContent[S ~string | ~[]byte](b []byte, s S) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// jsonStringLen is len(appendJSONString(nil, s)).
func jsonStringLen[S ~string | ~[]byte](s S) int {
	n := len(s) + 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c >= 0x20 && c != '"' && c != '\\':
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n++
			default:
				n += 5 // \u00XX
			}
			i++
			continue
		}
		r, size := decodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 5 // \ufffd for one byte
		case r == '\u2028' || r == '\u2029':
			n += 3 // \u202X for three bytes
		}
		i += size
	}
	return n
}

// decodeRune is utf8.DecodeRune for a string or a byte slice.
func decodeRune[S ~string | ~[]byte](s S) (rune, int) {
	return utf8.DecodeRuneInString(string(s[:min(len(s), utf8.UTFMax)]))
}

// EventPayload returns the JSON of a Pusher event frame, {"event":…,"channel":…,"data":…},
// with data as a JSON string; the payload other nodes deliver with [Hub.DeliverFrame].
func EventPayload(name, channel, data string) []byte { return eventPayload(nil, name, channel, data) }

// JSONString returns s as a JSON string literal.
func JSONString(s string) string { return string(appendJSONString(nil, s)) }

// closeCodeOf returns the status code of frame, a close frame this package compiled; 0 for
// any other frame, 1005 for a close frame without a code (RFC 6455, 7.1.5).
func closeCodeOf(frame []byte) uint16 {
	if len(frame) < 2 || frame[0]&0x0f != byte(ws.OpClose) || frame[1]&0x80 != 0 {
		return 0
	}
	n := int(frame[1] & 0x7f)
	if n < 2 || n > 125 || len(frame) < 4 {
		return uint16(ws.StatusNoStatusRcvd)
	}
	return uint16(frame[2])<<8 | uint16(frame[3])
}
