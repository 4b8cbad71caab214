package ws

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Client messages are decoded in one pass over their bytes (fastMessage, fastSubscribe,
// fastMember, stringValue) for the shapes clients send. What that pass does not take (escaped,
// non-ASCII or case-variant keys, escaped surrogates, invalid UTF-8 in a decoded string,
// deep nesting, invalid JSON) goes to encoding/json, so the result is always the one
// encoding/json gives, duplicate keys included (the last one wins). FuzzFastDecoders checks
// this.

// maxFastDepth is the deepest nesting of arrays and objects the fast pass skips over.
const maxFastDepth = 32

// objectScanner walks the members of one JSON object that makes up the whole input (with
// whitespace around it), validating every value it passes.
type objectScanner struct {
	b      []byte
	i      int
	key    []byte // the current member's key; keys are plain ASCII, without escapes
	val    []byte // the current member's value, exactly as written
	ok     bool   // false once the input is not for the fast pass
	more   bool   // a member was read: the next one follows a comma
	closed bool   // the closing brace was read and only whitespace followed
}

func newObjectScanner(b []byte) objectScanner {
	i := skipSpace(b, 0)
	ok := i < len(b) && b[i] == '{'
	return objectScanner{b: b, i: i + 1, ok: ok}
}

// next reads the next member into key and val; it returns false at the end of the object
// or when the input is left to encoding/json (see done).
func (o *objectScanner) next() bool {
	if !o.ok || o.closed {
		return false
	}
	b, i := o.b, skipSpace(o.b, o.i)
	if i < len(b) && b[i] == '}' {
		o.i, o.closed = i+1, skipSpace(b, i+1) == len(b)
		o.ok = o.closed
		return false
	}
	if o.more {
		if i >= len(b) || b[i] != ',' {
			o.ok = false
			return false
		}
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		o.ok = false
		return false
	}
	start := i + 1
	for i = start; i < len(b) && b[i] != '"'; i++ {
		if c := b[i]; c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			o.ok = false
			return false
		}
	}
	if i >= len(b) {
		o.ok = false
		return false
	}
	o.key = b[start:i]
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] != ':' {
		o.ok = false
		return false
	}
	i = skipSpace(b, i+1)
	end := skipValue(b, i, 0)
	if end < 0 {
		o.ok = false
		return false
	}
	o.val, o.i, o.more = b[i:end], end, true
	return true
}

// done reports whether the whole input was one object the fast pass took.
func (o *objectScanner) done() bool { return o.ok && o.closed }

// foldsTo reports whether the current key is a case variant of one of names, which
// encoding/json would match (it matches keys case-insensitively); exact matches are
// handled before it is asked.
func (o *objectScanner) foldsTo(names ...string) bool {
	for _, n := range names {
		if bytes.EqualFold(o.key, []byte(n)) {
			return true
		}
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at b[i], or -1 if there is
// none or it nests deeper than maxFastDepth.
func skipValue(b []byte, i, depth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		if depth == maxFastDepth {
			return -1
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == end {
			return i + 1
		}
		for {
			if c == '{' {
				if i = skipString(b, i); i < 0 {
					return -1
				}
				if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
					return -1
				}
				i = skipSpace(b, i+1)
			}
			if i = skipValue(b, i, depth+1); i < 0 {
				return -1
			}
			if i = skipSpace(b, i); i >= len(b) {
				return -1
			}
			switch b[i] {
			case end:
				return i + 1
			case ',':
				i = skipSpace(b, i+1)
			default:
				return -1
			}
		}
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(b, i)
	}
	return -1
}

func skipLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// skipString returns the index just past the JSON string starting at b[i], or -1.
func skipString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b, i+2); !ok {
					return -1
				}
				i += 6
			default:
				return -1
			}
		default:
			i++
		}
	}
	return -1
}

// skipNumber returns the index just past the JSON number starting at b[i], or -1.
func skipNumber(b []byte, i int) int {
	digits := func(i int) int {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i + 1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if j := digits(i + 1); j > i+1 {
			i = j
		} else {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if j := digits(i); j > i {
			i = j
		} else {
			return -1
		}
	}
	return i
}

// hex4 reads the four hex digits of a \u escape at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if len(b)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// plainString returns the content of the JSON string literal v, which skipString accepted,
// when it holds no escape and is valid UTF-8, aliasing v.
func plainString(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
		return nil, false
	}
	return s, true
}

// stringBytes returns the value of v, aliasing v when it holds no escape; ok is false for
// values other than strings and for strings left to encoding/json (escaped surrogates,
// invalid UTF-8, which it replaces). v must be a whole JSON value that was validated (by the
// object scanner or by encoding/json), as every value of a decoded message is.
func stringBytes(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	if s, ok := plainString(v); ok {
		return s, true
	}
	if !utf8.Valid(v) {
		return nil, false
	}
	s := v[1 : len(v)-1]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(s, i+2)
			if r >= 0xd800 && r < 0xe000 {
				return nil, false // a surrogate: encoding/json pairs or replaces it
			}
			out = utf8.AppendRune(out, r)
			i += 6
			continue
		}
		i += 2
	}
	return out, true
}

// stringValue is stringBytes as a string.
func stringValue(v []byte) (string, bool) {
	b, ok := stringBytes(v)
	return string(b), ok
}

// eventName interns the names of the events clients send all the time, so decoding them
// allocates nothing.
func eventName(b []byte) string {
	switch string(b) {
	case "pusher:subscribe":
		return "pusher:subscribe"
	case "pusher:unsubscribe":
		return "pusher:unsubscribe"
	case "pusher:ping":
		return "pusher:ping"
	case "pusher:pong":
		return "pusher:pong"
	case "pusher:signin":
		return "pusher:signin"
	}
	return string(b)
}

// decodeMessage decodes a client message; false means it is not valid JSON of an object
// with string event and channel (encoding/json's verdict). Data may alias b.
func decodeMessage(b []byte) (clientMessage, bool) {
	if msg, ok := fastMessage(b); ok {
		return msg, true
	}
	return jsonMessage(b)
}

// jsonMessage is decodeMessage's encoding/json path.
func jsonMessage(b []byte) (clientMessage, bool) {
	var msg clientMessage
	err := json.Unmarshal(b, &msg)
	return msg, err == nil
}

// fastMessage is decodeMessage's single pass; false leaves the message to encoding/json.
func fastMessage(b []byte) (clientMessage, bool) {
	var m clientMessage
	o := newObjectScanner(b)
	for o.next() {
		var ok bool
		switch string(o.key) {
		case "event":
			var s []byte
			if s, ok = plainString(o.val); ok {
				m.Event = eventName(s)
			} else {
				m.Event, ok = stringValue(o.val)
			}
		case "channel":
			m.Channel, ok = stringValue(o.val)
		case "data":
			m.Data, ok = o.val, true
		default:
			ok = !o.foldsTo("event", "channel", "data")
		}
		if !ok {
			return clientMessage{}, false
		}
	}
	return m, o.done()
}

// decodeSubscribe decodes the data of pusher:subscribe or pusher:unsubscribe; false means
// encoding/json finds it invalid. ChannelData may alias raw.
func decodeSubscribe(raw []byte) (subscribeData, bool) {
	if d, ok := fastSubscribe(raw); ok {
		return d, true
	}
	return jsonSubscribe(raw)
}

// jsonSubscribe is decodeSubscribe's encoding/json path.
func jsonSubscribe(raw []byte) (subscribeData, bool) {
	var d subscribeData
	err := json.Unmarshal(raw, &d)
	return d, err == nil
}

// fastSubscribe is decodeSubscribe's single pass; false leaves the data to encoding/json.
func fastSubscribe(raw []byte) (subscribeData, bool) {
	var d subscribeData
	o := newObjectScanner(raw)
	for o.next() {
		var ok bool
		switch string(o.key) {
		case "channel":
			d.Channel, ok = stringValue(o.val)
		case "auth":
			d.Auth, ok = stringValue(o.val)
		case "channel_data":
			d.ChannelData, ok = o.val, true
		default:
			ok = !o.foldsTo("channel", "auth", "channel_data")
		}
		if !ok {
			return subscribeData{}, false
		}
	}
	return d, o.done()
}

// fastMember is parseMember's single pass over channel_data: user_id as a non-empty string
// or a number, user_info raw. ok is false when it leaves channel_data to encoding/json
// (which also decides every refusal).
func fastMember(channelData []byte) (id string, rawID, info []byte, ok bool) {
	o := newObjectScanner(channelData)
	for o.next() {
		switch string(o.key) {
		case "user_id":
			rawID = o.val
		case "user_info":
			info = o.val
		default:
			if o.foldsTo("user_id", "user_info") {
				return "", nil, nil, false
			}
		}
	}
	if !o.done() || len(rawID) == 0 {
		return "", nil, nil, false
	}
	if rawID[0] == '"' {
		id, ok = stringValue(rawID)
		return id, rawID, info, ok && id != ""
	}
	if rawID[0] == '-' || rawID[0] >= '0' && rawID[0] <= '9' {
		return string(rawID), rawID, info, true
	}
	return "", nil, nil, false
}
