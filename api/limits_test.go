package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/api"
	"github.com/reverbd/reverbd/registry"
)

// wantSDKError fails unless err is the SDK's error for status with the JSON error body msg.
func wantSDKError(t *testing.T, err error, status int, msg string) {
	t.Helper()
	want := fmt.Sprintf("Status Code: %d - %s", status, errBody(status, msg))
	if err == nil || err.Error() != want {
		t.Fatalf("SDK error %v, want %s", err, want)
	}
}

// channelName returns a valid channel name of exactly 200 characters ending in i.
func channelName(i int) string {
	suffix := "." + strconv.Itoa(i)
	return "private-" + strings.Repeat("c", registry.DefaultMaxChannelNameLength-len("private-")-len(suffix)) + suffix
}

// With REVERB_MAX_REQUEST_SIZE unset, events up to Pusher's 10 KiB data limit go through,
// one at a time, on 100 channels, or as a full batch; past it the answer names the limit.
func TestSDKDataLimitWithMaxRequestSizeUnset(t *testing.T) {
	e := newEnv(t, options{})
	c := e.client()
	// The SDK escapes each < as \u003c: 60 KiB of JSON for 10 KiB of data.
	data := strings.Repeat("<", 10240)

	if err := c.Trigger("orders", "big", data); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{"orders"}, Name: "big", Data: data})

	channels := make([]string, 100)
	for i := range channels {
		channels[i] = channelName(i)
	}
	if err := c.TriggerMulti(channels, strings.Repeat("é", 200), data); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: channels, Name: strings.Repeat("é", 200), Data: data})

	batch := make([]pusher.Event, 10)
	for i := range batch {
		batch[i] = pusher.Event{Channel: channelName(i), Name: strings.Repeat("é", 200), Data: data,
			SocketID: ptr("12345678901234567890.12345678901234567890"), Info: ptr("subscription_count")}
	}
	if _, err := c.TriggerBatch(batch); err != nil {
		t.Fatal(err)
	}
	for i := range batch {
		wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{channelName(i)},
			Name: batch[i].Name, Data: data, SocketID: *batch[i].SocketID})
	}

	// One byte more: the SDK refuses it itself unless told the limit is higher.
	c.OverrideMaxMessagePayloadKB = 20
	wantSDKError(t, c.Trigger("orders", "big", data+"<"), 413, "data is larger than 10240 bytes")
	batch[9].Data = data + "<"
	_, err := c.TriggerBatch(batch)
	wantSDKError(t, err, 413, "batch[9]: data is larger than 10240 bytes")
}

// The costliest batch a client may send within every limit, with each character escaped
// as expensively as JSON allows, is the size api.DefaultMaxBody is computed from, and it is
// accepted.
func TestFullBatchAtEveryLimitFitsTheBodyCap(t *testing.T) {
	e := newEnv(t, options{})
	name := strings.Repeat(`\ud83d\ude00`, 200)             // 200 characters, PHP-style escapes
	data := strings.Repeat(`\u0001`, 10240)                 // 10 KiB of data
	socketID := "12345678901234567890.12345678901234567890" // two full uint64s
	items := make([]string, 10)
	for i := range items {
		items[i] = `{"name":"` + name + `","data":"` + data + `","channel":"` + channelName(i) +
			`","socket_id":"` + socketID + `","info":"user_count,subscription_count"}`
	}
	body := `{"batch":[` + strings.Join(items, ",") + `]}`
	if len(body) != 641711 || len(body) > api.DefaultMaxBody {
		t.Fatalf("full batch is %d bytes, want 641711 (the figure in limits.go), within %d", len(body), api.DefaultMaxBody)
	}
	want(t, e.call(t, http.MethodPost, "/apps/3/batch_events", nil, body), http.StatusOK,
		`{"batch":[`+strings.Repeat(`{"subscription_count":0},`, 9)+`{"subscription_count":0}]}`)
	for i := range items {
		wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{channelName(i)},
			Name: strings.Repeat("😀", 200), Data: strings.Repeat("\x01", 10240), SocketID: socketID})
	}
}

// rawRequest is an HTTP/1.1 request written byte for byte, so its size on the wire is known.
func (e *env) rawRequest(method, path, rawQuery, body string, extra ...string) string {
	u, _ := url.Parse(e.srv.URL)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s?%s HTTP/1.1\r\nHost: %s\r\n", method, e.prefix+path, rawQuery, u.Host)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.WriteString(body)
	return b.String()
}

// send writes raw to the server and returns the response.
func (e *env) send(t *testing.T, raw string) response {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return readResponse(t, res)
}

// sized returns the request build(n) makes for the n at which it is exactly size bytes.
func sized(t *testing.T, size int, build func(n int) string) string {
	t.Helper()
	n := 0
	for range 5 {
		raw := build(n)
		if len(raw) == size {
			return raw
		}
		n += size - len(raw)
	}
	t.Fatalf("no request of %d bytes", size)
	return ""
}

// A REVERB_MAX_REQUEST_SIZE that is set is honoured as Reverb does: the whole request,
// request line and headers included, may take that many bytes, and one more is a 413.
func TestMaxRequestSizeSetCountsTheWholeRequest(t *testing.T) {
	for _, prefix := range prefixes {
		t.Run("prefix="+prefix, func(t *testing.T) {
			const limit = 10000 // Reverb's default
			e := newEnv(t, options{prefix: prefix, maxRequest: limit})
			tooLarge := errBody(413, "request larger than 10000 bytes, headers included")

			trigger := func(n int) string {
				body := eventBody([]string{"orders"}, strings.Repeat("x", max(n, 1)))
				q := e.signQuery(http.MethodPost, "/apps/3/events", nil, body, sig{})
				return e.rawRequest(http.MethodPost, "/apps/3/events", q.Encode(), body)
			}
			want(t, e.send(t, sized(t, limit, trigger)), http.StatusOK, `{}`)
			e.rec.next(t)
			want(t, e.send(t, sized(t, limit+1, trigger)), http.StatusRequestEntityTooLarge, tooLarge)

			// Headers count too, also without a body.
			channels := func(n int) string {
				q := e.signQuery(http.MethodGet, "/apps/3/channels", nil, "", sig{})
				return e.rawRequest(http.MethodGet, "/apps/3/channels", q.Encode(), "", "X-Padding: "+strings.Repeat("p", max(n, 0)))
			}
			want(t, e.send(t, sized(t, limit, channels)), http.StatusOK, `{"channels":{}}`)
			want(t, e.send(t, sized(t, limit+1, channels)), http.StatusRequestEntityTooLarge, tooLarge)

			// So a 10 KiB event does not fit Reverb's default, as with Reverb.
			wantSDKError(t, e.client().Trigger("orders", "big", strings.Repeat("x", 10240)), 413,
				"request larger than 10000 bytes, headers included")
		})
	}
}

// Pusher's 10 KiB data limit holds under any REVERB_MAX_REQUEST_SIZE.
func TestDataLimitWithMaxRequestSizeSet(t *testing.T) {
	e := newEnv(t, options{maxRequest: 1 << 20})
	c := e.client()
	c.OverrideMaxMessagePayloadKB = 100
	wantSDKError(t, c.Trigger("orders", "big", strings.Repeat("x", 50_000)), 413, "data is larger than 10240 bytes")
	if err := c.Trigger("orders", "big", strings.Repeat("x", 10240)); err != nil {
		t.Fatal(err)
	}
	e.rec.next(t)
}
