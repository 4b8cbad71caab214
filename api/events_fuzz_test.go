package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/reverbd/reverbd/api"
	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
)

// takingQueue is an Enqueuer that keeps what the API queued, for the fuzz target to check.
type takingQueue struct{ events []registry.Event }

func (q *takingQueue) Enqueue(_ context.Context, ev registry.Event) error {
	q.events = append(q.events, ev)
	return nil
}

// FuzzEventBodies sends arbitrary bodies, correctly signed, to POST /events and POST
// /batch_events through the real router. The answer is always 200, 400 or 413 with a JSON
// body (the error shape with the same code when it is not 200), never a panic; and every
// event queued is within the limits.
func FuzzEventBodies(f *testing.F) {
	for _, seed := range []string{
		eventBody([]string{"orders"}, `{"id":1}`),
		`{"name":"App\\Events\\OrderShipped","data":"{\"order\":{\"id\":1}}","channel":"private-tenant.42","socket_id":"123.456"}`,
		`{"name":"ev","channels":["presence-room.1","orders"],"data":"d","info":"user_count,subscription_count"}`,
		`{"name":"ev","channels":["a"],"data":"` + strings.Repeat("x", 10240) + `"}`,
		`{"name":"ev","channels":["a"],"data":"` + strings.Repeat(`\u003c`, 10241) + `"}`,
		`{"name":"ev","channels":[],"channel":"a","data":"d"}`,
		`{"name":"\ud83d","channels":["#server-to-user-7"],"data":"\u0000"}`,
		`{"name":7,"channels":[1],"data":{"a":1},"socket_id":"1.2.3"}`,
		`{"name":"ev",`, ``, `null`, `[]`, `"x"`, `{"batch":null}`,
	} {
		f.Add(false, []byte(seed))
	}
	for _, seed := range []string{
		batchBody(10), batchBody(11), `{"batch":[]}`, `{"batch":{}}`, `{"batch":[null]}`,
		`{"batch":[{"channel":"orders","name":"n","data":"d","info":"subscription_count"},{"channel":"a b","name":"n","data":"d"}]}`,
		`{"batch":[{"channel":"a","name":"ev","data":"` + strings.Repeat("x", 10241) + `"}]}`,
	} {
		f.Add(true, []byte(seed))
	}

	now := func() time.Time { return time.Unix(vectorTime, 0) }
	queue := &takingQueue{}
	a := api.New(api.Params{
		Apps:      registry.NewApps([]config.App{{ID: appID, Key: appKey, Secret: appSecret}}),
		Queue:     queue,
		Occupancy: registry.NewMemoryOccupancy(),
		Cache:     registry.NewMemoryCache(),
		Now:       now,
	})
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	a.Routes(r)
	signer := &env{now: now}

	f.Fuzz(func(t *testing.T, batch bool, body []byte) {
		path := "/apps/3/events"
		if batch {
			path = "/apps/3/batch_events"
		}
		q := signer.signQuery(http.MethodPost, path, nil, string(body), sig{})
		req := httptest.NewRequest(http.MethodPost, path+"?"+q.Encode(), bytes.NewReader(body))
		w := httptest.NewRecorder()
		queue.events = queue.events[:0]
		r.ServeHTTP(w, req)

		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d %s for body %q", w.Code, w.Body, body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer %q (%s) is not JSON", w.Body, ct)
		}
		if w.Code != http.StatusOK {
			var e struct {
				Error string `json:"error"`
				Code  int    `json:"code"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code != w.Code || e.Error == "" {
				t.Fatalf("error answer %q for status %d", w.Body, w.Code)
			}
			if len(queue.events) != 0 {
				t.Fatalf("status %d, yet %d events were queued", w.Code, len(queue.events))
			}
			return
		}
		if len(queue.events) == 0 {
			t.Fatalf("200 for body %q, yet nothing was queued", body)
		}
		for _, ev := range queue.events {
			if ev.Name == "" || utf8.RuneCountInString(ev.Name) > 200 || ev.Data == "" || len(ev.Data) > 10240 ||
				len(ev.Channels) == 0 || len(ev.Channels) > 100 || ev.AppID != appID {
				t.Fatalf("queued an event past the limits: %+v", ev)
			}
			for _, ch := range ev.Channels {
				if registry.ValidateChannel(ch, registry.DefaultMaxChannelNameLength) != nil {
					t.Fatalf("queued an event on the invalid channel %q", ch)
				}
			}
		}
	})
}
