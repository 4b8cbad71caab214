package main

import (
	"bytes"
	"strconv"
)

// benchEvent is the name of the events the tool publishes.
const benchEvent = "reverbd-bench"

// appendData appends the data of event seq sent at ts (unix nanoseconds) to b:
// {"seq":S,"ts":T,"pad":"xxx…"}, with the pad sized so the whole data is size bytes (or as
// short as possible when size is smaller than the fixed part). It is plain ASCII with no
// character needing a JSON escape except its quotes.
func appendData(b []byte, seq uint64, ts int64, size int) []byte {
	start := len(b)
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"pad":"`...)
	for n := size - (len(b) - start) - 2; n > 0; n-- {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// appendJSONString appends s as a JSON string literal. Control characters other than the
// common ones do not occur in what the tool sends, but are escaped anyway.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// frameEvent returns the value of the top-level "event" key of a Pusher frame, or nil. It
// assumes, as every Pusher server does, that "event" is the first key holding that name.
func frameEvent(frame []byte) []byte { return stringField(frame, `"event"`) }

// skipTo skips the separator between a key and its value — a closing escaped quote, the
// colon and blanks — and returns the index of the value's first byte (for a string value
// nested in a JSON string, the index of the `"` after its backslash).
func skipTo(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch b[i] {
		case '\\', ':', ' ', '\t':
		case '"':
			// The closing quote of an escaped key (\"seq\":) is followed by ':'; an opening
			// quote of a value is not.
			if i+1 < len(b) && (b[i+1] == ':' || b[i+1] == ' ') {
				continue
			}
			return i
		default:
			return i
		}
	}
	return i
}

// numberAfter finds `"key` in b from offset from and parses the unsigned integer that is
// its value, whether the object is plain JSON or JSON inside a JSON string (\"key\":12).
// It returns the value and the index just past it.
func numberAfter(b []byte, from int, key string) (uint64, int, bool) {
	if from > len(b) {
		return 0, 0, false
	}
	i := bytes.Index(b[from:], []byte(key))
	if i < 0 {
		return 0, 0, false
	}
	j := skipTo(b, from+i+len(key))
	var v uint64
	k := j
	for ; k < len(b) && b[k] >= '0' && b[k] <= '9'; k++ {
		v = v*10 + uint64(b[k]-'0')
	}
	return v, k, k > j
}

// parseBench returns the sequence number and send time (unix nanoseconds) carried in the
// data of a delivered benchmark frame, without decoding the JSON: it looks for "seq and
// "ts after the frame's "data" key.
func parseBench(frame []byte) (seq uint64, ts int64, ok bool) {
	d := bytes.Index(frame, []byte(`"data"`))
	if d < 0 {
		return 0, 0, false
	}
	seq, next, ok := numberAfter(frame, d, `"seq`)
	if !ok {
		return 0, 0, false
	}
	t, _, ok := numberAfter(frame, next, `"ts`)
	if !ok {
		return 0, 0, false
	}
	return seq, int64(t), true
}

// errorCode returns the code of a pusher:error frame, 0 when absent or null.
func errorCode(frame []byte) int {
	v, _, ok := numberAfter(frame, 0, `"code`)
	if !ok {
		return 0
	}
	return int(v)
}

// socketIDOf returns the socket_id of a pusher:connection_established frame, or "".
func socketIDOf(frame []byte) string {
	i := bytes.Index(frame, []byte(`"socket_id`))
	if i < 0 {
		return ""
	}
	j := skipTo(frame, i+len(`"socket_id`))
	for j < len(frame) && (frame[j] == '"' || frame[j] == '\\') {
		j++
	}
	k := j
	for k < len(frame) && (frame[k] == '.' || frame[k] >= '0' && frame[k] <= '9') {
		k++
	}
	return string(frame[j:k])
}

// userIDOf returns the user_id of a member_added frame, or "".
func userIDOf(frame []byte) string {
	i := bytes.Index(frame, []byte(`"user_id`))
	if i < 0 {
		return ""
	}
	j := skipTo(frame, i+len(`"user_id`))
	for j < len(frame) && (frame[j] == '"' || frame[j] == '\\') {
		j++
	}
	k := j
	for k < len(frame) && frame[k] != '"' && frame[k] != '\\' && frame[k] != ',' && frame[k] != '}' {
		k++
	}
	return string(frame[j:k])
}

// stringField returns the string value of the top-level key (quoted, e.g. `"channel"`) of a
// Pusher frame, or nil; like frameEvent it takes the first occurrence of the key.
func stringField(frame []byte, key string) []byte {
	i := bytes.Index(frame, []byte(key))
	if i < 0 {
		return nil
	}
	j := skipTo(frame, i+len(key))
	if j >= len(frame) || frame[j] != '"' {
		return nil
	}
	end := bytes.IndexByte(frame[j+1:], '"')
	if end < 0 {
		return nil
	}
	return frame[j+1 : j+1+end]
}
