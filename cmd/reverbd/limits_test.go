package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/registry"
)

// httpDo sends method to rawURL (with basic auth when user is set) and returns the status,
// Content-Type and body.
func httpDo(t *testing.T, method, rawURL, user, password string) (int, string, string) {
	t.Helper()
	resp, body := httpResponse(t, method, rawURL, user, password)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// httpResponse sends method to rawURL (with basic auth when user is set) and returns the
// response with its body, read and closed.
func httpResponse(t *testing.T, method, rawURL, user, password string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// The REVERB_MAX_* limits and REVERB_HTTP_TIMESTAMP_WINDOW reach the HTTP API and the
// WebSocket side: one channel-name limit for triggers and subscribes.
func TestLimitsFromConfiguration(t *testing.T) {
	p := startProcess(t, "REVERB_MAX_CHANNELS_PER_TRIGGER=2", "REVERB_MAX_CHANNEL_NAME_LENGTH=20",
		"REVERB_MAX_EVENT_DATA_SIZE=0", "REVERB_MAX_EVENT_NAME_LENGTH=12", "REVERB_MAX_BATCH_SIZE=3",
		"REVERB_HTTP_TIMESTAMP_WINDOW=0")
	sdk := p.sdk(t)
	sdk.OverrideMaxMessagePayloadKB = 100
	long := "private-" + strings.Repeat("c", 13) // 21 characters

	wantStatus := func(err error, status string) {
		t.Helper()
		if err == nil || !strings.HasPrefix(err.Error(), "Status Code: "+status+" ") {
			t.Errorf("SDK error %v, want status %s", err, status)
		}
	}
	wantStatus(sdk.TriggerMulti([]string{"a", "b", "c"}, "ev", "d"), "400")
	wantStatus(sdk.Trigger(long, "ev", "d"), "400")
	wantStatus(sdk.Trigger("orders", strings.Repeat("e", 13), "d"), "400")
	batch := make([]pusher.Event, 4)
	for i := range batch {
		batch[i] = pusher.Event{Channel: "orders", Name: "ev", Data: "d"}
	}
	_, err := sdk.TriggerBatch(batch)
	wantStatus(err, "400")
	// Data has no limit of its own: 50 KB pass.
	c := p.dial(t)
	c.subscribe("orders")
	data := strings.Repeat("x", 50_000)
	if err := sdk.Trigger("orders", "ev", data); err != nil {
		t.Fatal(err)
	}
	if ev, got := c.read(); ev != "ev" || got != data {
		t.Fatalf("got %s with %d bytes, want ev with %d", ev, len(got), len(data))
	}

	// The same channel name limit on subscribe.
	msg := `{"event":"pusher:subscribe","data":{"auth":"` + authFor(c.socketID, long) + `","channel":"` + long + `"}}`
	if err := wsutil.WriteClientText(c.conn, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if ev, data := c.read(); ev != "pusher:subscription_error" || !strings.Contains(data, "InvalidChannel") {
		t.Errorf("subscribe to a 21-character channel: %s %s, want an InvalidChannel subscription_error", ev, data)
	}
	c.subscribe(long[:20])

	// REVERB_HTTP_TIMESTAMP_WINDOW=0: an auth_timestamp of 1970 passes, as with Reverb.
	q := "auth_key=" + e2eKey + "&auth_timestamp=1&auth_version=1.0"
	q += "&auth_signature=" + registry.Sign(e2eSecret, "GET\n/apps/"+e2eID+"/channels\n"+q)
	status, _, body := httpDo(t, http.MethodGet, "http://"+p.addr+"/apps/"+e2eID+"/channels?"+q, "", "")
	if status != http.StatusOK || !strings.Contains(body, long[:20]) {
		t.Errorf("stale auth_timestamp with the window off: %d %s, want 200 with the channels", status, body)
	}
}

// Unknown paths and wrong methods on the public port answer the API's JSON error, under the
// path prefix and outside it; /up, the WebSocket path and the admin listener are as before.
func TestPublicPortErrorsAreJSON(t *testing.T) {
	for _, prefix := range []string{"", "/ws"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			p := startProcess(t, "REVERB_SERVER_PATH="+prefix)
			base := "http://" + p.addr
			for _, tc := range []struct {
				method, path string
				status       int
				body         string
			}{
				{http.MethodGet, "/nothing", 404, `{"error":"not found","code":404}`},
				{http.MethodGet, prefix + "/nothing", 404, `{"error":"not found","code":404}`},
				{http.MethodGet, prefix + "/app/", 404, `{"error":"not found","code":404}`},
				{http.MethodPost, prefix + "/up", 405, `{"error":"method not allowed","code":405}`},
				{http.MethodPost, prefix + "/app/" + e2eKey, 405, `{"error":"method not allowed","code":405}`},
				{http.MethodGet, prefix + "/apps/" + e2eID + "/nope", 404, `{"error":"not found","code":404}`},
				{http.MethodGet, prefix + "/up", 200, `{"health":"OK"}`},
			} {
				status, ctype, body := httpDo(t, tc.method, base+tc.path, "", "")
				if status != tc.status || body != tc.body || ctype != "application/json" {
					t.Errorf("%s %s: %d %s %q, want %d %s as JSON", tc.method, tc.path, status, ctype, body, tc.status, tc.body)
				}
			}
			if prefix != "" {
				// Outside the prefix /up is an unknown path.
				if status, _, body := httpDo(t, http.MethodGet, base+"/up", "", ""); status != 404 || body != `{"error":"not found","code":404}` {
					t.Errorf("GET /up outside the prefix: %d %s", status, body)
				}
			}
			// A plain GET of the WebSocket path is still the upgrade's refusal, not a 404.
			if status, _, _ := httpDo(t, http.MethodGet, base+prefix+"/app/"+e2eKey, "", ""); status != http.StatusBadRequest {
				t.Errorf("GET of the WebSocket path without an upgrade: %d, want 400", status)
			}
			conn, _, _, err := ws.Dial(context.Background(), "ws://"+p.addr+prefix+"/app/"+e2eKey+"?protocol=7")
			if err != nil {
				t.Fatalf("WebSocket under %q: %v", prefix, err)
			}
			conn.Close()
			// The admin listener keeps its own router.
			admin := "http://" + p.adminAddr
			if status, ctype, _ := httpDo(t, http.MethodGet, admin+"/nothing", adminUser, adminPassword); status != 404 || strings.HasPrefix(ctype, "application/json") {
				t.Errorf("admin unknown path: %d %s, want chi's plain 404", status, ctype)
			}
			if status, _, _ := httpDo(t, http.MethodGet, admin+"/nothing", "", ""); status != http.StatusUnauthorized {
				t.Errorf("admin without credentials: %d, want 401", status)
			}
		})
	}
}

// An accept_client_events_from other than members, all and none starts the server with one
// warning line naming the app and the value, and every client event gets 4301, as with none.
func TestAcceptClientEventsOtherValue(t *testing.T) {
	envFile := appEnvFile(t, "REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM=off")
	c := startCommand(t, "start", "--env-file", envFile, "--host", "127.0.0.1", "--port", "0")
	var warnings []string
	for line := range strings.SplitSeq(c.log.String(), "\n") {
		if strings.Contains(line, "level=WARN") {
			warnings = append(warnings, line)
		}
	}
	want := `level=WARN msg="REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM is \"off\", not members, all or none: app \"` + e2eID + `\" refuses every client event with 4301, as with none"`
	if len(warnings) != 1 || !strings.Contains(warnings[0], want) {
		t.Fatalf("warning lines %q, want one with %s", warnings, want)
	}
	p := &process{addr: c.addr}
	a, b := p.dial(t), p.dial(t)
	a.subscribe("private-chat")
	b.subscribe("private-chat")
	if err := wsutil.WriteClientText(a.conn, []byte(`{"event":"client-typing","channel":"private-chat","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	if ev, data := a.read(); ev != "pusher:error" || !strings.Contains(data, `"code":4301`) || !strings.Contains(data, "client messaging enabled") {
		t.Errorf("client event: %s %s, want pusher:error 4301", ev, data)
	}
	// b got nothing: its next frame is the answer to its own ping.
	if err := wsutil.WriteClientText(b.conn, []byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	if ev, _ := b.read(); ev != "pusher:pong" {
		t.Errorf("the other member got %s, want only its pong", ev)
	}
}
