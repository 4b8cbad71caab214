package api_test

import (
	"net/http"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/reverbd/reverbd/registry"
)

func TestEventsInfoResponse(t *testing.T) {
	e := newEnv(t, options{})
	occupy(t, e)
	body := `{"name":"ev","channels":["presence-room.1","orders","empty","presence-empty"],"data":"d","info":"user_count,subscription_count"}`
	want(t, e.call(t, http.MethodPost, "/apps/3/events", nil, body), http.StatusOK,
		`{"channels":{"empty":{"subscription_count":0},"orders":{"subscription_count":5},`+
			`"presence-empty":{"user_count":0,"subscription_count":0},"presence-room.1":{"user_count":2,"subscription_count":3}}}`)
	e.rec.next(t)

	// Only the requested attributes; unknown ones are ignored.
	body = `{"name":"ev","channels":["presence-room.1","orders"],"data":"d","info":"user_count,bogus"}`
	want(t, e.call(t, http.MethodPost, "/apps/3/events", nil, body), http.StatusOK,
		`{"channels":{"orders":{},"presence-room.1":{"user_count":2}}}`)
	e.rec.next(t)

	// An empty info is no info.
	body = `{"name":"ev","channels":["orders"],"data":"d","info":""}`
	want(t, e.call(t, http.MethodPost, "/apps/3/events", nil, body), http.StatusOK, `{}`)
	e.rec.next(t)
}

func TestBatchInfoResponse(t *testing.T) {
	e := newEnv(t, options{})
	occupy(t, e)
	body := `{"batch":[{"channel":"orders","name":"order.paid","data":"{\"id\":1}"},` +
		`{"channel":"presence-room.1","name":"note","data":"\"hi\"","socket_id":"123.456","info":"user_count,subscription_count"},` +
		`{"channel":"orders","name":"n","data":"d","info":"subscription_count"}]}`
	want(t, e.call(t, http.MethodPost, "/apps/3/batch_events", nil, body), http.StatusOK,
		`{"batch":[{},{"user_count":2,"subscription_count":3},{"subscription_count":5}]}`)
	wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{"orders"}, Name: "order.paid", Data: `{"id":1}`})
	wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{"presence-room.1"}, Name: "note", Data: `"hi"`, SocketID: "123.456"})
	wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{"orders"}, Name: "n", Data: "d"})

	want(t, e.call(t, http.MethodPost, "/apps/3/batch_events", nil, batchBody(1)), http.StatusOK, `{}`)
	e.rec.next(t)
}

func TestChannelsResponse(t *testing.T) {
	e := newEnv(t, options{})
	want(t, e.call(t, http.MethodGet, "/apps/3/channels", nil, ""), http.StatusOK, `{"channels":{}}`)

	occupy(t, e)
	// Another app's channels are not listed.
	if _, err := e.occ.Subscribe(t.Context(), "4", "presence-room.1", "9.9", &registry.Member{UserID: "1"}, 0); err != nil {
		t.Fatal(err)
	}
	// A channel whose last subscriber left is not listed.
	e.subscribe(t, "gone", "5.1", "")
	if _, _, err := e.occ.Unsubscribe(t.Context(), appID, "gone", "5.1"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		params map[string]string
		body   string
	}{
		{nil, `{"channels":{"orders":{},"presence-room.1":{}}}`},
		{map[string]string{"info": "user_count"}, `{"channels":{"orders":{},"presence-room.1":{"user_count":2}}}`},
		{map[string]string{"info": "subscription_count"}, `{"channels":{"orders":{"subscription_count":5},"presence-room.1":{"subscription_count":3}}}`},
		{map[string]string{"filter_by_prefix": "presence-", "info": "user_count,subscription_count"}, `{"channels":{"presence-room.1":{"user_count":2,"subscription_count":3}}}`},
		{map[string]string{"filter_by_prefix": "private-"}, `{"channels":{}}`},
	} {
		want(t, e.call(t, http.MethodGet, "/apps/3/channels", tc.params, ""), http.StatusOK, tc.body)
	}
}

func TestChannelResponse(t *testing.T) {
	e := newEnv(t, options{})
	occupy(t, e)
	for _, tc := range []struct {
		path   string
		params map[string]string
		body   string
	}{
		{"/apps/3/channels/orders", nil, `{"occupied":true}`},
		{"/apps/3/channels/orders", map[string]string{"info": "user_count,subscription_count"}, `{"occupied":true,"subscription_count":5}`},
		{"/apps/3/channels/presence-room.1", map[string]string{"info": "user_count"}, `{"occupied":true,"user_count":2}`},
		{"/apps/3/channels/empty", map[string]string{"info": "subscription_count"}, `{"occupied":false,"subscription_count":0}`},
		{"/apps/3/channels/empty", nil, `{"occupied":false}`},
		{"/apps/3/channels/cache-prices", map[string]string{"info": "cache"}, `{"occupied":false}`},
	} {
		want(t, e.call(t, http.MethodGet, tc.path, tc.params, ""), http.StatusOK, tc.body)
	}

	// The worker caches the last event of a cache channel; info=cache returns it.
	if err := e.client().Trigger("cache-prices", "price.updated", `{"eur":1.07}`); err != nil {
		t.Fatal(err)
	}
	e.rec.next(t) // the worker stores the cache entry before delivering
	e.subscribe(t, "cache-prices", "6.1", "")
	want(t, e.call(t, http.MethodGet, "/apps/3/channels/cache-prices", map[string]string{"info": "cache,subscription_count"}, ""),
		http.StatusOK, `{"occupied":true,"subscription_count":1,"cache":{"event":"price.updated","data":"{\"eur\":1.07}"}}`)
	// Only asked for, and only on cache channels.
	want(t, e.call(t, http.MethodGet, "/apps/3/channels/cache-prices", nil, ""), http.StatusOK, `{"occupied":true}`)
}

// Channel names arrive raw in the path; escaped ones are decoded before use (chi routes on r.URL.RawPath when it is set).
func TestChannelNameEscaped(t *testing.T) {
	e := newEnv(t, options{prefix: "/ws"})
	e.subscribe(t, "presence-room@x", "1.1", "7")
	want(t, e.call(t, http.MethodGet, "/apps/3/channels/presence-room%40x/users", nil, ""), http.StatusOK, `{"users":[{"id":"7"}]}`)
	want(t, e.call(t, http.MethodGet, "/apps/3/channels/presence-room@x/users", nil, ""), http.StatusOK, `{"users":[{"id":"7"}]}`)
	want(t, e.call(t, http.MethodGet, "/apps/3/channels/presence-room%40x", map[string]string{"info": "user_count"}, ""),
		http.StatusOK, `{"occupied":true,"user_count":1}`)
}

func TestUsersEmpty(t *testing.T) {
	e := newEnv(t, options{})
	want(t, e.call(t, http.MethodGet, "/apps/3/channels/presence-nobody/users", nil, ""), http.StatusOK, `{"users":[]}`)
	want(t, e.call(t, http.MethodGet, "/apps/3/channels/presence-cache-x/users", nil, ""), http.StatusOK, `{"users":[]}`)
}

func TestTerminateConnections(t *testing.T) {
	e := newEnv(t, options{prefix: "/ws"})
	for _, path := range []string{
		"/apps/3/users/7/terminate_connections",
		"/apps/3/users/user%40example.com/terminate_connections", // escaped: chi gives it raw
		"/apps/3/users/a%25b/terminate_connections",              // a literal %
		"/apps/4/users/7/terminate_connections",
	} {
		q := e.signQuery(http.MethodPost, path, nil, "{}", sig{})
		if path == "/apps/4/users/7/terminate_connections" {
			q = e.signQuery(http.MethodPost, path, nil, "{}", sig{key: "other-key", secret: "other-secret"})
		}
		want(t, e.do(t, http.MethodPost, path, q.Encode(), "{}"), http.StatusOK, `{}`)
	}
	if got := e.term.got(); !slices.Equal(got, []string{"3/7", "3/user@example.com", "3/a%b", "4/7"}) {
		t.Fatalf("terminated %q", got)
	}

	none := newEnv(t, options{noTerm: true})
	want(t, none.call(t, http.MethodPost, "/apps/3/users/7/terminate_connections", nil, "{}"),
		http.StatusNotImplemented, `{"error":"terminate_connections is not supported","code":501}`)
}

func TestConnections(t *testing.T) {
	e := newEnv(t, options{})
	want(t, e.call(t, http.MethodGet, "/apps/3/connections", nil, ""), http.StatusOK, `{"connections":0}`)
	for _, socket := range []string{"1.1", "1.2"} {
		if err := e.occ.Connect(t.Context(), appID, socket, 0); err != nil {
			t.Fatal(err)
		}
	}
	want(t, e.call(t, http.MethodGet, "/apps/3/connections", nil, ""), http.StatusOK, `{"connections":2}`)
}

func TestUp(t *testing.T) {
	var ready, draining atomic.Bool
	for _, prefix := range prefixes {
		t.Run("prefix="+prefix, func(t *testing.T) {
			e := newEnv(t, options{prefix: prefix, ready: ready.Load, draining: draining.Load})
			ready.Store(true)
			want(t, e.do(t, http.MethodGet, "/up", "", ""), http.StatusOK, `{"health":"OK"}`)
			ready.Store(false)
			want(t, e.do(t, http.MethodGet, "/up", "", ""), http.StatusServiceUnavailable, `{"health":"unavailable"}`)
			// Draining wins, ready or not: a load balancer sees the stop at once.
			for _, r := range []bool{true, false} {
				ready.Store(r)
				draining.Store(true)
				want(t, e.do(t, http.MethodGet, "/up", "", ""), http.StatusServiceUnavailable, `{"health":"draining"}`)
				draining.Store(false)
			}
		})
	}
	always := newEnv(t, options{})
	want(t, always.do(t, http.MethodGet, "/up", "", ""), http.StatusOK, `{"health":"OK"}`)
}
