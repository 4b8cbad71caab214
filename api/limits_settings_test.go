package api_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/api"
	"github.com/reverbd/reverbd/registry"
)

// channelsOf returns n valid channel names of exactly length characters.
func channelsOf(n, length int) []string {
	names := make([]string, n)
	for i := range names {
		suffix := "." + strconv.Itoa(i)
		names[i] = strings.Repeat("c", length-len(suffix)) + suffix
	}
	return names
}

// Lowered limits (REVERB_MAX_EVENT_DATA_SIZE and the like) hold at their value, with the
// same statuses and error bodies as Pusher's, on triggers, batches and channel queries.
func TestSDKLoweredLimits(t *testing.T) {
	for _, prefix := range prefixes {
		t.Run("prefix="+prefix, func(t *testing.T) {
			e := newEnv(t, options{prefix: prefix, params: func(p *api.Params) {
				p.MaxEventDataSize, p.MaxEventNameLength, p.MaxChannelsPerTrigger, p.MaxBatchSize, p.MaxChannelNameLength = 100, 10, 2, 2, 20
			}})
			c := e.client()
			ch := channelsOf(3, 20)

			// Each limit itself is accepted.
			if err := c.TriggerMulti(ch[:2], strings.Repeat("é", 10), strings.Repeat("x", 100)); err != nil {
				t.Fatal(err)
			}
			wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: ch[:2], Name: strings.Repeat("é", 10), Data: strings.Repeat("x", 100)})
			batch := []pusher.Event{{Channel: ch[0], Name: "a", Data: "1"}, {Channel: ch[1], Name: "b", Data: "2"}}
			if _, err := c.TriggerBatch(batch); err != nil {
				t.Fatal(err)
			}
			e.rec.next(t)
			e.rec.next(t)

			// One more is refused.
			wantSDKError(t, c.Trigger("orders", "ev", strings.Repeat("x", 101)), 413, "data is larger than 100 bytes")
			wantSDKError(t, c.Trigger("orders", strings.Repeat("é", 11), "d"), 400, "name is longer than 10 characters")
			wantSDKError(t, c.TriggerMulti(ch, "ev", "d"), 400, "more than 2 channels")
			_, err := c.TriggerBatch(append(batch, pusher.Event{Channel: ch[2], Name: "c", Data: "3"}))
			wantSDKError(t, err, 400, "batch must hold 1 to 2 events")
			long := ch[0] + "x"
			wantSDKError(t, c.Trigger(long, "ev", "d"), 400, `invalid channel name "`+long+`"`)
			_, err = c.TriggerBatch([]pusher.Event{{Channel: long, Name: "a", Data: "1"}})
			wantSDKError(t, err, 400, `batch[0]: invalid channel name "`+long+`"`)
			_, err = c.Channel(long, pusher.ChannelParams{})
			wantSDKError(t, err, 400, `invalid channel name "`+long+`"`)
			_, err = c.GetChannelUsers("presence-" + strings.Repeat("u", 12))
			wantSDKError(t, err, 400, `invalid channel name "presence-`+strings.Repeat("u", 12)+`"`)
			if _, err := c.Channel(ch[0], pusher.ChannelParams{}); err != nil {
				t.Errorf("channel at the limit: %v", err)
			}
		})
	}
}

// Raised limits let what they name through, and the body cap grows with them when
// REVERB_MAX_REQUEST_SIZE is unset, so a full batch at every limit still fits.
func TestSDKRaisedLimits(t *testing.T) {
	e := newEnv(t, options{params: func(p *api.Params) {
		p.MaxEventDataSize, p.MaxEventNameLength, p.MaxChannelsPerTrigger, p.MaxBatchSize, p.MaxChannelNameLength = 64<<10, 300, 150, 20, 300
	}})
	c := e.client()
	c.OverrideMaxMessagePayloadKB = 100
	// The SDK escapes each < as \u003c: the batch's body is about 7.9 MB.
	data := strings.Repeat("<", 64<<10)
	name := strings.Repeat("é", 300)
	batch := make([]pusher.Event, 20)
	for i := range batch {
		batch[i] = pusher.Event{Channel: channelName(i), Name: name, Data: data}
	}
	if _, err := c.TriggerBatch(batch); err != nil {
		t.Fatal(err)
	}
	for i := range batch {
		wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{channelName(i)}, Name: name, Data: data})
	}
	wantSDKError(t, c.Trigger("orders", "ev", data+"<"), 413, "data is larger than 65536 bytes")
	wantSDKError(t, c.Trigger("orders", name+"é", "d"), 400, "name is longer than 300 characters")
	small := make([]pusher.Event, 21)
	for i := range small {
		small[i] = pusher.Event{Channel: "orders", Name: "ev", Data: "d"}
	}
	_, err := c.TriggerBatch(small)
	wantSDKError(t, err, 400, "batch must hold 1 to 20 events")

	// The SDK itself refuses more than 100 channels and names over 200 characters.
	many := channelsOf(151, 300)
	want(t, e.call(t, http.MethodPost, "/apps/3/events", nil, eventBody(many[:150], "d")), http.StatusOK, `{}`)
	wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: many[:150], Name: "ev", Data: "d"})
	want(t, e.call(t, http.MethodPost, "/apps/3/events", nil, eventBody(many, "d")), http.StatusBadRequest, errBody(400, "more than 150 channels"))
	long := many[0] + "x"
	want(t, e.call(t, http.MethodPost, "/apps/3/events", nil, eventBody([]string{long}, "d")), http.StatusBadRequest, errBody(400, `invalid channel name "`+long+`"`))

	// The cap: a full batch at every limit, each character escaped as dearly as JSON allows
	// (see the table in limits.go): 20 × (129 + 6×65536 + 12×300 + 300) + 19 + 12 bytes.
	const bodyCap = 20*(129+6*65536+12*300+300) + 19 + 12
	over := `{"name":"ev","channels":["a"],"data":"` + strings.Repeat("x", bodyCap) + `"}`
	want(t, e.call(t, http.MethodPost, "/apps/3/events", nil, over), http.StatusRequestEntityTooLarge,
		errBody(413, "request body larger than "+strconv.Itoa(bodyCap)+" bytes"))
}

// Limits turned off (0 in the configuration, negative in Params) let any size through up to
// the body cap, which stays at 640 KiB.
func TestSDKLimitsOff(t *testing.T) {
	e := newEnv(t, options{params: func(p *api.Params) {
		p.MaxEventDataSize, p.MaxEventNameLength, p.MaxChannelsPerTrigger, p.MaxBatchSize, p.MaxChannelNameLength = -1, -1, -1, -1, -1
	}})
	c := e.client()
	c.OverrideMaxMessagePayloadKB = 1000
	data := strings.Repeat("x", 500_000)
	name := strings.Repeat("n", 1000)
	if err := c.Trigger("orders", name, data); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{"orders"}, Name: name, Data: data})
	batch := make([]pusher.Event, 30)
	for i := range batch {
		batch[i] = pusher.Event{Channel: "orders", Name: "ev", Data: strconv.Itoa(i)}
	}
	if _, err := c.TriggerBatch(batch); err != nil {
		t.Fatal(err)
	}
	for range batch {
		e.rec.next(t)
	}
	many := channelsOf(300, 1000)
	want(t, e.call(t, http.MethodPost, "/apps/3/events", nil, eventBody(many, "d")), http.StatusOK, `{}`)
	wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: many, Name: "ev", Data: "d"})
	wantSDKError(t, c.Trigger("orders", "ev", strings.Repeat("x", api.DefaultMaxBody)), 413, "request body larger than 655360 bytes")
	// The naming rules still hold.
	want(t, e.call(t, http.MethodPost, "/apps/3/events", nil, eventBody([]string{"a b"}, "d")), http.StatusBadRequest, errBody(400, `invalid channel name "a b"`))
}

// REVERB_HTTP_TIMESTAMP_WINDOW: auth_timestamp within the window of the server's clock, or,
// with the window off, not checked at all (as Reverb).
func TestSDKTimestampWindow(t *testing.T) {
	window := func(d time.Duration) func(*api.Params) {
		return func(p *api.Params) { p.TimestampWindow = d }
	}
	// The SDK signs with the real clock; the server's runs ahead by skew.
	within := newEnv(t, options{skew: 20 * time.Second, params: window(30 * time.Second)})
	if err := within.client().Trigger("orders", "ev", "d"); err != nil {
		t.Fatal(err)
	}
	within.rec.next(t)
	outside := newEnv(t, options{skew: time.Minute, params: window(30 * time.Second)})
	wantSDKError(t, outside.client().Trigger("orders", "ev", "d"), 401, "auth_timestamp not within 30s of server time")

	off := newEnv(t, options{skew: 24 * time.Hour, params: window(-1)})
	if err := off.client().Trigger("orders", "ev", "d"); err != nil {
		t.Fatal(err)
	}
	off.rec.next(t)
	// Not even parsed: a signed request with any auth_timestamp passes.
	q := off.signQuery(http.MethodGet, "/apps/3/channels", nil, "", sig{ts: "soon"})
	want(t, off.do(t, http.MethodGet, "/apps/3/channels", q.Encode(), ""), http.StatusOK, `{"channels":{}}`)
	// The other checks stay.
	q = off.signQuery(http.MethodGet, "/apps/3/channels", nil, "", sig{secret: "wrong"})
	want(t, off.do(t, http.MethodGet, "/apps/3/channels", q.Encode(), ""), http.StatusUnauthorized, errBody(401, "invalid signature"))
}

// NotFound and MethodNotAllowed on the root router answer in the API's JSON error shape,
// outside /apps too, under the prefix and outside it.
func TestRootErrorsAreJSON(t *testing.T) {
	forEachPrefix(t, func(t *testing.T, e *env) {
		want(t, e.do(t, http.MethodGet, "/nothing", "", ""), http.StatusNotFound, errBody(404, "not found"))
		want(t, e.do(t, http.MethodPost, "/up", "", ""), http.StatusMethodNotAllowed, errBody(405, "method not allowed"))
		want(t, e.do(t, http.MethodGet, "/up", "", ""), http.StatusOK, `{"health":"OK"}`)
		if e.prefix != "" {
			res := (&env{srv: e.srv}).do(t, http.MethodGet, "/up", "", "") // outside the prefix
			want(t, res, http.StatusNotFound, errBody(404, "not found"))
		}
	})
}

// A 405 names the methods the path is served with in Allow (RFC 9110, section 15.5.6), under
// /apps and outside it, under the prefix and without it.
func TestMethodNotAllowedSaysAllow(t *testing.T) {
	forEachPrefix(t, func(t *testing.T, e *env) {
		for _, tc := range []struct{ method, path, allow string }{
			{http.MethodPost, "/up", "GET"},
			{http.MethodGet, "/apps/3/events", "POST"},
			{http.MethodDelete, "/apps/3/channels", "GET"},
			{http.MethodGet, "/apps/3/users/7/terminate_connections", "POST"},
		} {
			res := e.do(t, tc.method, tc.path, "", "")
			want(t, res, http.StatusMethodNotAllowed, errBody(405, "method not allowed"))
			if res.allow != tc.allow {
				t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, res.allow, tc.allow)
			}
		}
	})
}
