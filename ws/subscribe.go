package ws

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/reverbd/reverbd/config/catalogue"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// subscribeData is the data of pusher:subscribe (Pusher's WebSocket protocol docs).
type subscribeData struct {
	Channel     string          `json:"channel"`
	Auth        string          `json:"auth"`
	ChannelData json.RawMessage `json:"channel_data"`
}

// subscribe handles pusher:subscribe: it checks the name, the signature and the app's limits,
// records the subscription, tells presence members, and answers subscription_succeeded (and
// the cached event of a cache channel). A refusal is channel-scoped and leaves the connection
// open.
func (c *Conn) subscribe(raw json.RawMessage) {
	d, ok := decodeSubscribe(raw)
	if !ok || d.Channel == "" {
		c.logClient(slog.LevelInfo, "invalid subscribe")
		c.Send(errorFrame(errInvalidMessage))
		return
	}
	if err := registry.ValidateChannel(d.Channel, c.srv.maxChannel); err != nil {
		c.logClient(slog.LevelInfo, "subscribe refused: invalid channel")
		c.Send(subscriptionErrorFrame(d.Channel, "InvalidChannel", "Invalid channel name", 400))
		return
	}
	kind := registry.KindOf(d.Channel)
	if kind.Has(registry.KindUser) {
		c.subscribeUser(d.Channel)
		return
	}
	var entry *catalogue.Entry
	if app := c.App(); app.ChannelsEnforced() {
		if entry, ok = c.catalogueSubscribe(app, d.Channel); !ok {
			return
		}
	}
	channelData := channelDataBytes(d.ChannelData)
	if kind.IsPrivate() {
		if !c.validAuth(d.Auth, d.Channel, kind, channelData) {
			c.stats.AuthFailed(metrics.AuthSubscribe)
			c.refuseSubscription(d.Channel, "Invalid signature")
			return
		}
		c.authorized() // the app signed for this connection
	}
	var member *registry.Member
	if kind.IsPresence() {
		m, ok := parseMember(channelData)
		if !ok {
			c.refuseSubscription(d.Channel, "Presence channel_data must hold a user_id")
			return
		}
		if !c.memberWithinLimits(d.Channel, m) {
			return
		}
		member = m
	}

	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	sub := c.channels.find(d.Channel)
	if sub != nil {
		member = sub.member // re-subscribing keeps the recorded member
	}
	full := sub == nil && c.App().MaxSubscriptions > 0 && len(c.channels) >= c.App().MaxSubscriptions
	patternLimit := 0
	if sub == nil && entry != nil {
		if limit := entryMaxSubscriptions(entry); limit > 0 && c.channels.ofEntry(entry) >= limit {
			patternLimit = limit
		}
	}
	c.mu.Unlock()
	switch {
	case sub != nil:
		// Re-subscribing answers again without a member_added (as Reverb does).
		c.resubscribe(d.Channel, kind, member)
	case full:
		limit := c.App().MaxSubscriptions
		c.logClient(slog.LevelInfo, "subscribe refused: max_subscriptions", "channel", d.Channel, "max", limit)
		c.stats.LimitHit(metrics.LimitMaxSubscriptions)
		c.Send(subscriptionErrorFrame(d.Channel, "LimitReached",
			"The connection is subscribed to "+strconv.Itoa(limit)+" channels, the most allowed", 403))
	case patternLimit > 0:
		c.logClient(slog.LevelInfo, "subscribe refused: max_subscriptions of the pattern", "channel", d.Channel, "pattern", entry.Pattern, "max", patternLimit)
		c.stats.LimitHit(metrics.LimitMaxSubscriptions)
		c.Send(subscriptionErrorFrame(d.Channel, "LimitReached",
			"The connection is subscribed to "+strconv.Itoa(patternLimit)+" channels of "+entry.Pattern+", the most allowed", 403))
	default:
		c.record(d.Channel, kind, member, entry)
	}
}

// unsubscribe handles pusher:unsubscribe; an unknown channel is ignored.
func (c *Conn) unsubscribe(raw json.RawMessage) {
	d, ok := decodeSubscribe(raw)
	if !ok || d.Channel == "" {
		c.logClient(slog.LevelInfo, "invalid unsubscribe")
		c.Send(errorFrame(errInvalidMessage))
		return
	}
	c.leaveChannel(d.Channel)
}

// memberRemoved is the payload of pusher_internal:member_removed for m; its data is
// {"user_id":…}, the id as the app sent it (see appendUserID).
func memberRemoved(channel string, m *registry.Member) []byte {
	var buf [128]byte
	data := append(buf[:0], `{"user_id":`...)
	data = append(appendUserID(data, m), '}')
	return newEventPayload("pusher_internal:member_removed", channel, data)
}

// appendUserID appends the user_id of m as the app sent it in channel_data, keeping its JSON
// type ("7" or 7: pusher-js takes it as the member's id as it is), or as a JSON string when
// that is not known.
func appendUserID(b []byte, m *registry.Member) []byte {
	if len(m.RawID) > 0 {
		return append(b, m.RawID...)
	}
	return appendJSONString(b, m.UserID)
}

// subscribeUser answers a subscription to #server-to-user-{id}: allowed only for the
// connection signed in as that user (Pusher's user authentication docs).
func (c *Conn) subscribeUser(channel string) {
	id, _ := registry.UserID(channel)
	c.mu.Lock()
	signedIn := c.userID
	c.mu.Unlock()
	if signedIn == "" || signedIn != id {
		c.refuseSubscription(channel, "The connection is not signed in as this user")
		return
	}
	c.Send(eventFrame("pusher_internal:subscription_succeeded", channel, "{}"))
}

// refuseSubscription sends the channel-scoped pusher:subscription_error that pusher-js and
// Laravel Echo's .error() handle.
func (c *Conn) refuseSubscription(channel, reason string) {
	c.logClient(slog.LevelInfo, "subscribe refused", "channel", channel, "reason", reason)
	c.Send(subscriptionErrorFrame(channel, "AuthError", reason, 401))
}

// validAuth checks "{key}:{signature}" against the channel's string to sign, in constant time.
func (c *Conn) validAuth(auth, channel string, kind registry.Kind, channelData []byte) bool {
	key, sig, ok := strings.Cut(auth, ":")
	if !ok || key != c.App().Key || sig == "" {
		return false
	}
	var msg string
	if kind.IsPresence() {
		msg = c.id + ":" + channel + ":" + string(channelData)
	} else {
		msg = c.id + ":" + channel
	}
	return registry.ValidSignature(c.App().Secret, msg, sig)
}

// channelDataBytes returns channel_data as the exact text the app signed: the string's
// value when it is a JSON string, else the raw JSON. The result may alias raw.
func channelDataBytes(raw json.RawMessage) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		if s, ok := stringBytes(raw); ok {
			return s
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []byte(s)
		}
	}
	return raw
}

// parseMember reads user_id (a non-empty string or a number) and user_info from channel_data.
// The member holds copies of what it keeps.
func parseMember(channelData []byte) (*registry.Member, bool) {
	id, rawID, info, ok := fastMember(channelData)
	if !ok {
		id, rawID, info, ok = jsonMember(channelData)
	}
	if !ok {
		return nil, false
	}
	// One copy holds both: RawID first, then Info.
	kept := append(append(make([]byte, 0, len(rawID)+len(info)), rawID...), info...)
	m := &registry.Member{UserID: id, RawID: kept[:len(rawID):len(rawID)]}
	if len(info) > 0 {
		m.Info = kept[len(rawID):]
	}
	return m, true
}

// jsonMember is parseMember's encoding/json path: the user id's string form, the user_id and
// user_info JSON (aliasing channelData or not), and whether user_id is usable.
func jsonMember(channelData []byte) (id string, rawID, info []byte, ok bool) {
	var d struct {
		UserID   json.RawMessage `json:"user_id"`
		UserInfo json.RawMessage `json:"user_info"`
	}
	if json.Unmarshal(channelData, &d) != nil {
		return "", nil, nil, false
	}
	if id, ok = idString(d.UserID); !ok {
		return "", nil, nil, false
	}
	return id, d.UserID, bytes.TrimSpace(d.UserInfo), true
}

// idString turns a JSON user id into its string form: a string's value or a number's text.
func idString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil || s == "" {
			return "", false
		}
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return "", false
	}
	return n.String(), true
}

// memberAdded is the payload of pusher_internal:member_added for m; its data is
// {"user_id":…,"user_info":…}, the member's channel_data (the id keeps its JSON type).
func memberAdded(channel string, m *registry.Member) []byte {
	var buf [256]byte
	data := append(buf[:0], `{"user_id":`...)
	data = appendUserID(data, m)
	if m.Info != nil {
		data = append(data, `,"user_info":`...)
		data = append(data, m.Info...)
	}
	data = append(data, '}')
	return newEventPayload("pusher_internal:member_added", channel, data)
}

// presenceSucceededFrame is pusher_internal:subscription_succeeded of a presence channel:
// its data lists every member, the subscriber included.
func presenceSucceededFrame(channel string, members []registry.Member) []byte {
	buf := presenceBuffers.Get().(*[]byte)
	data := appendPresenceData((*buf)[:0], members)
	frame := escapedEventFrame("pusher_internal:subscription_succeeded", channel, data)
	if cap(data) <= maxPooledPresence {
		*buf = data[:0]
		presenceBuffers.Put(buf)
	}
	return frame
}

// presenceBuffers hold the member lists of presence subscription_succeeded frames while the
// frames are built; a list over maxPooledPresence is left to the garbage collector.
var presenceBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledPresence = 64 << 10

// appendPresenceData appends the data of a presence subscription_succeeded,
// {"presence":{"count":n,"ids":[…],"hash":{id:info,…}}}, already escaped as the
// content of the JSON string the frame carries it in: each member's parts are escaped on
// their own (see appendJSONStringContent), not the whole list once more.
func appendPresenceData(b []byte, members []registry.Member) []byte {
	b = append(b, `{\"presence\":{\"count\":`...)
	b = strconv.AppendInt(b, int64(len(members)), 10)
	b = append(b, `,\"ids\":[`...)
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONStringContent(b, m.RawID)
	}
	b = append(b, `],\"hash\":{`...)
	var quoted [64]byte
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		if plainJSON(m.UserID) {
			b = append(append(append(b, `\"`...), m.UserID...), `\"`...) // escaped twice, unchanged
		} else {
			b = appendJSONStringContent(b, appendJSONString(quoted[:0], m.UserID))
		}
		b = append(b, ':')
		if m.Info != nil {
			b = appendJSONStringContent(b, m.Info)
		} else {
			b = append(b, "null"...)
		}
	}
	return append(b, "}}}"...)
}

// plainJSON reports whether s is the same once escaped as JSON string content.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
