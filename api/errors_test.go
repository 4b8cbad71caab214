package api_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/reverbd/reverbd/api"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
)

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// eventBody is a POST /events body for channels with data.
func eventBody(channels []string, data string) string {
	b, _ := json.Marshal(map[string]any{"name": "ev", "channels": channels, "data": data})
	return string(b)
}

// batchBody is a POST /batch_events body of n valid items.
func batchBody(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = `{"channel":"orders","name":"ev","data":"d"}`
	}
	return `{"batch":[` + strings.Join(items, ",") + `]}`
}

func errBody(status int, msg string) string {
	return fmt.Sprintf(`{"error":%s,"code":%d}`, jsonString(msg), status)
}

// TestErrors walks every way a request is refused. None of them may queue an event, and
// each is logged once, without the secret, the signature or the payload.
func TestErrors(t *testing.T) {
	const events = "/apps/3/events"
	const secretData = "payload-must-not-be-logged"
	tooManyChannels := make([]string, 101)
	for i := range tooManyChannels {
		tooManyChannels[i] = "c" + strconv.Itoa(i)
	}

	cases := []struct {
		name   string
		method string // default POST
		path   string // default /apps/3/events
		params map[string]string
		body   string
		sig    sig
		// raw sends query instead of the signed query; mutate edits the signed one.
		raw    bool
		query  string
		mutate func(q map[string][]string)
		status int
		msg    string
	}{
		// Authentication: 401.
		{name: "bad signature", body: eventBody([]string{"a"}, secretData), mutate: func(q map[string][]string) {
			q["auth_signature"] = []string{strings.Repeat("0", 64)}
		}, status: 401, msg: "invalid signature"},
		{name: "wrong secret", body: eventBody([]string{"a"}, secretData), sig: sig{secret: "other-secret"}, status: 401, msg: "invalid signature"},
		{name: "missing signature", body: eventBody([]string{"a"}, secretData), mutate: func(q map[string][]string) {
			delete(q, "auth_signature")
		}, status: 401, msg: "missing auth_signature"},
		{name: "unsigned", raw: true, body: eventBody([]string{"a"}, secretData), status: 401, msg: "missing auth_signature"},
		{name: "wrong auth_key", body: eventBody([]string{"a"}, secretData), sig: sig{key: "other-key"}, status: 401, msg: "invalid auth_key"},
		{name: "bad auth_version", body: eventBody([]string{"a"}, secretData), sig: sig{version: "2.0"}, status: 401, msg: "unsupported auth_version"},
		{name: "stale timestamp", body: eventBody([]string{"a"}, secretData), sig: sig{ts: strconv.Itoa(vectorTime - 601)}, status: 401, msg: "auth_timestamp not within 600s of server time"},
		{name: "future timestamp", body: eventBody([]string{"a"}, secretData), sig: sig{ts: strconv.Itoa(vectorTime + 601)}, status: 401, msg: "auth_timestamp not within 600s of server time"},
		{name: "timestamp not a number", body: eventBody([]string{"a"}, secretData), sig: sig{ts: "soon"}, status: 401, msg: "invalid auth_timestamp"},
		{name: "timestamp overflow", body: eventBody([]string{"a"}, secretData), sig: sig{ts: "-9223372036854775808"}, status: 401, msg: "auth_timestamp not within 600s of server time"},
		{name: "body_md5 mismatch", body: eventBody([]string{"a"}, secretData), sig: sig{md5: md5Hex("something else")}, status: 401, msg: "body_md5 does not match the request body"},
		{name: "body_md5 not signed", body: eventBody([]string{"a"}, secretData), sig: sig{noMD5: true}, status: 401, msg: "invalid signature"},
		{name: "malformed query", raw: true, query: "auth_key=%zz", body: "{}", status: 401, msg: "malformed query string"},

		// Lookup and routing.
		{name: "unknown app", path: "/apps/99/events", body: "{}", status: 404, msg: "unknown app_id"},
		{name: "unknown route", method: "GET", path: "/apps/3/nope", status: 404, msg: "not found"},
		{name: "app root", method: "GET", path: "/apps/3", status: 404, msg: "not found"},
		{name: "wrong method", method: "GET", path: events, status: 405, msg: "method not allowed"},
		{name: "wrong method on channels", method: "DELETE", path: "/apps/3/channels", status: 405, msg: "method not allowed"},

		// Sizes: 413.
		{name: "body over the cap", body: `{"name":"ev","channels":["a"],"data":"` + strings.Repeat("x", api.DefaultMaxBody) + `"}`, status: 413, msg: "request body larger than 655360 bytes"},
		{name: "data over 10 KiB", body: eventBody([]string{"a"}, strings.Repeat("x", 10241)), status: 413, msg: "data is larger than 10240 bytes"},

		// Validation: 400.
		{name: "malformed JSON", body: `{"name":"ev",`, status: 400, msg: "malformed JSON body"},
		{name: "empty body", body: "", status: 400, msg: "malformed JSON body"},
		{name: "trailing garbage", body: eventBody([]string{"a"}, "d") + "x", status: 400, msg: "malformed JSON body"},
		{name: "name missing", body: `{"channels":["a"],"data":"d"}`, status: 400, msg: "name is required"},
		{name: "name empty", body: `{"name":"","channels":["a"],"data":"d"}`, status: 400, msg: "name is required"},
		{name: "name not a string", body: `{"name":7,"channels":["a"],"data":"d"}`, status: 400, msg: "name has the wrong type"},
		{name: "name too long", body: `{"name":"` + strings.Repeat("é", 201) + `","channels":["a"],"data":"d"}`, status: 400, msg: "name is longer than 200 characters"},
		{name: "data missing", body: `{"name":"ev","channels":["a"]}`, status: 400, msg: "data is required"},
		{name: "data null", body: `{"name":"ev","channels":["a"],"data":null}`, status: 400, msg: "data is required"},
		{name: "data empty", body: `{"name":"ev","channels":["a"],"data":""}`, status: 400, msg: "data must not be empty"},
		{name: "data object", body: `{"name":"ev","channels":["a"],"data":{"a":1}}`, status: 400, msg: "data must be a string"},
		{name: "data number", body: `{"name":"ev","channels":["a"],"data":1}`, status: 400, msg: "data must be a string"},
		{name: "no channels", body: `{"name":"ev","data":"d"}`, status: 400, msg: "channels is required"},
		{name: "empty channels win over channel", body: `{"name":"ev","channels":[],"channel":"a","data":"d"}`, status: 400, msg: "channels is required"},
		{name: "channels not strings", body: `{"name":"ev","channels":[1],"data":"d"}`, status: 400, msg: "channels has the wrong type"},
		{name: "bad channel name", body: eventBody([]string{"ok", "foo bar"}, "d"), status: 400, msg: `invalid channel name "foo bar"`},
		{name: "bad single channel", body: `{"name":"ev","channel":"a/b","data":"d"}`, status: 400, msg: `invalid channel name "a/b"`},
		{name: "channel name too long", body: eventBody([]string{strings.Repeat("a", 201)}, "d"), status: 400, msg: `invalid channel name "` + strings.Repeat("a", 201) + `"`},
		{name: "user channel without id", body: eventBody([]string{"#server-to-user-"}, "d"), status: 400, msg: `invalid channel name "#server-to-user-"`},
		{name: "over 100 channels", body: eventBody(tooManyChannels, "d"), status: 400, msg: "more than 100 channels"},
		{name: "socket_id letters", body: `{"name":"ev","channels":["a"],"data":"d","socket_id":"abc"}`, status: 400, msg: "invalid socket_id"},
		{name: "socket_id no fraction", body: `{"name":"ev","channels":["a"],"data":"d","socket_id":"1."}`, status: 400, msg: "invalid socket_id"},
		{name: "socket_id no integer", body: `{"name":"ev","channels":["a"],"data":"d","socket_id":".1"}`, status: 400, msg: "invalid socket_id"},
		{name: "socket_id two dots", body: `{"name":"ev","channels":["a"],"data":"d","socket_id":"1.2.3"}`, status: 400, msg: "invalid socket_id"},
		{name: "socket_id newline", body: `{"name":"ev","channels":["a"],"data":"d","socket_id":"1.2\n"}`, status: 400, msg: "invalid socket_id"},
		{name: "socket_id empty", body: `{"name":"ev","channels":["a"],"data":"d","socket_id":""}`, status: 400, msg: "invalid socket_id"},

		// Batches: all or nothing.
		{name: "batch over 10", path: "/apps/3/batch_events", body: batchBody(11), status: 400, msg: "batch must hold 1 to 10 events"},
		{name: "batch empty", path: "/apps/3/batch_events", body: `{"batch":[]}`, status: 400, msg: "batch must hold 1 to 10 events"},
		{name: "batch missing", path: "/apps/3/batch_events", body: `{}`, status: 400, msg: "batch must hold 1 to 10 events"},
		{name: "batch not an array", path: "/apps/3/batch_events", body: `{"batch":{}}`, status: 400, msg: "batch has the wrong type"},
		{name: "batch malformed", path: "/apps/3/batch_events", body: `{"batch":[`, status: 400, msg: "malformed JSON body"},
		{name: "batch item without channel", path: "/apps/3/batch_events", body: `{"batch":[{"channel":"a","name":"ev","data":"d"},{"channels":["a"],"name":"ev","data":"d"}]}`, status: 400, msg: "batch[1]: channel is required"},
		{name: "batch item bad channel", path: "/apps/3/batch_events", body: `{"batch":[{"channel":"a","name":"ev","data":"d"},{"channel":"a b","name":"ev","data":"d"}]}`, status: 400, msg: `batch[1]: invalid channel name "a b"`},
		{name: "batch item without name", path: "/apps/3/batch_events", body: `{"batch":[{"channel":"a","data":"d"}]}`, status: 400, msg: "batch[0]: name is required"},
		{name: "batch item bad socket_id", path: "/apps/3/batch_events", body: `{"batch":[{"channel":"a","name":"ev","data":"d","socket_id":"x"}]}`, status: 400, msg: "batch[0]: invalid socket_id"},
		{name: "batch item data too big", path: "/apps/3/batch_events", body: `{"batch":[{"channel":"a","name":"ev","data":"d"},{"channel":"a","name":"ev","data":"` + strings.Repeat("x", 10241) + `"}]}`, status: 413, msg: "batch[1]: data is larger than 10240 bytes"},

		// Channel routes.
		{name: "users of a public channel", method: "GET", path: "/apps/3/channels/orders/users", status: 400, msg: "users are only available for presence channels"},
		{name: "users of a private channel", method: "GET", path: "/apps/3/channels/private-x/users", status: 400, msg: "users are only available for presence channels"},
		{name: "channel with bad name", method: "GET", path: "/apps/3/channels/a%20b", status: 400, msg: `invalid channel name "a b"`},
		{name: "users with bad name", method: "GET", path: "/apps/3/channels/presence-a%20b/users", status: 400, msg: `invalid channel name "presence-a b"`},
	}

	e := newEnv(t, options{fixedNow: true})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := cmp.Or(tc.method, http.MethodPost)
			path := cmp.Or(tc.path, events)
			q := e.signQuery(method, path, tc.params, tc.body, tc.sig)
			signature := q.Get("auth_signature")
			if tc.mutate != nil {
				tc.mutate(q)
			}
			query := q.Encode()
			if tc.raw {
				query = tc.query
			}
			e.logs.take()
			want(t, e.do(t, method, path, query, tc.body), tc.status, errBody(tc.status, tc.msg))

			lines := e.logs.take()
			if len(lines) != 1 {
				t.Fatalf("logged %d lines, want 1: %q", len(lines), lines)
			}
			line := lines[0]
			for _, banned := range []string{appSecret, "other-secret", signature, secretData} {
				if strings.Contains(line, banned) {
					t.Fatalf("log line holds %q: %s", banned, line)
				}
			}
			appInPath := strings.Split(path, "/")[2]
			if !strings.Contains(line, `"app_id":"`+appInPath+`"`) || !strings.Contains(line, `"reason":`+jsonString(tc.msg)) {
				t.Fatalf("log line lacks app_id or reason: %s", line)
			}
		})
	}

	// Nothing above was queued: the next delivery is this marker.
	want(t, e.call(t, http.MethodPost, events, nil, eventBody([]string{"marker"}, "m")), http.StatusOK, `{}`)
	wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{"marker"}, Name: "ev", Data: "m"})
}

// TestLimitsAccepted checks the edges of each limit on the accepted side.
func TestLimitsAccepted(t *testing.T) {
	e := newEnv(t, options{fixedNow: true})
	hundred := make([]string, 100)
	for i := range hundred {
		hundred[i] = "c" + strconv.Itoa(i)
	}
	data := strings.Repeat("x", 10240)
	name := strings.Repeat("é", 200)
	for _, tc := range []struct {
		name string
		sig  sig
		body string
		want registry.Event
	}{
		{"timestamp 600s old", sig{ts: strconv.Itoa(vectorTime - 600)}, eventBody([]string{"a"}, "d"),
			registry.Event{Channels: []string{"a"}, Name: "ev", Data: "d"}},
		{"timestamp 600s ahead", sig{ts: strconv.Itoa(vectorTime + 600)}, eventBody([]string{"a"}, "d"),
			registry.Event{Channels: []string{"a"}, Name: "ev", Data: "d"}},
		{"data of 10 KiB", sig{}, eventBody([]string{"a"}, data),
			registry.Event{Channels: []string{"a"}, Name: "ev", Data: data}},
		{"100 channels", sig{}, eventBody(hundred, "d"),
			registry.Event{Channels: hundred, Name: "ev", Data: "d"}},
		{"name of 200 characters", sig{}, `{"name":"` + name + `","channel":"a","data":"d"}`,
			registry.Event{Channels: []string{"a"}, Name: name, Data: "d"}},
		{"channel (SDK-php)", sig{}, `{"name":"App\\Events\\OrderShipped","data":"{\"order\":{\"id\":1}}","channel":"private-tenant.42","socket_id":"123.456"}`,
			registry.Event{Channels: []string{"private-tenant.42"}, Name: `App\Events\OrderShipped`, Data: `{"order":{"id":1}}`, SocketID: "123.456"}},
		{"channels win over channel", sig{}, `{"name":"ev","channels":["a","b"],"channel":"c","data":"d"}`,
			registry.Event{Channels: []string{"a", "b"}, Name: "ev", Data: "d"}},
		{"server-to-user channel", sig{}, eventBody([]string{"#server-to-user-7"}, "d"),
			registry.Event{Channels: []string{"#server-to-user-7"}, Name: "ev", Data: "d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := e.signQuery(http.MethodPost, "/apps/3/events", nil, tc.body, tc.sig)
			want(t, e.do(t, http.MethodPost, "/apps/3/events", q.Encode(), tc.body), http.StatusOK, `{}`)
			tc.want.AppID = appID
			got := e.rec.next(t)
			wantEvent(t, got, tc.want)
			if !got.QueuedAt.Equal(e.now()) {
				t.Fatalf("QueuedAt %v, want %v", got.QueuedAt, e.now())
			}
		})
	}

	want(t, e.call(t, http.MethodPost, "/apps/3/batch_events", nil, batchBody(10)), http.StatusOK, `{}`)
	for range 10 {
		wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{"orders"}, Name: "ev", Data: "d"})
	}
}

// failingQueue is an Enqueuer whose backend is down.
type failingQueue struct{}

func (failingQueue) Enqueue(context.Context, registry.Event) error {
	return errors.New("redis: connection refused")
}

// An event that was not queued is never answered 200.
func TestQueueUnavailable(t *testing.T) {
	noop := jobs.NewWorker(jobs.WorkerParams{})
	full := jobs.NewMemoryQueue(noop, 1, 1) // never Run: it fills after one event
	closed := jobs.NewMemoryQueue(noop, 1, 8)
	if err := closed.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	unavailable := errBody(503, "event queue unavailable")
	for _, tc := range []struct {
		name   string
		queue  api.Enqueuer
		before int // events accepted before the queue refuses
	}{
		{"full", full, 1},
		{"closed", closed, 0},
		{"backend error", failingQueue{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, options{queue: tc.queue})
			for range tc.before {
				want(t, e.call(t, http.MethodPost, "/apps/3/events", nil, eventBody([]string{"a"}, "d")), 200, `{}`)
			}
			want(t, e.call(t, http.MethodPost, "/apps/3/events", nil, eventBody([]string{"a"}, "d")), 503, unavailable)
			want(t, e.call(t, http.MethodPost, "/apps/3/events", map[string]string{}, `{"name":"ev","channel":"a","data":"d","info":"subscription_count"}`), 503, unavailable)
			want(t, e.call(t, http.MethodPost, "/apps/3/batch_events", nil, batchBody(2)), 503, unavailable)
			if lines := e.logs.take(); len(lines) != 3 || !strings.Contains(lines[0], `"level":"WARN"`) {
				t.Fatalf("log lines %q", lines)
			}
		})
	}
}
