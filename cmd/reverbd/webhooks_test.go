package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
	"github.com/hibiken/asynq"
	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/registry/redistest"
)

// hookReceiver is a webhook endpoint that keeps the events of the requests the Pusher SDK
// accepts and counts those it refuses.
type hookReceiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	events  []pusher.WebhookEvent
	refused int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	sdk := pusher.Client{AppID: e2eID, Key: e2eKey, Secret: e2eSecret}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		hook, err := sdk.Webhook(req.Header, body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil || req.Header.Get("Content-Type") != "application/json" {
			r.refused++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.events = append(r.events, hook.Events...)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// waitFor returns the events received, once n of them are, failing the test after 10 s.
func (r *hookReceiver) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		var got []string
		for _, ev := range r.events {
			s := ev.Name + " " + ev.Channel
			if ev.Event != "" {
				s += " " + ev.Event + " " + ev.Data + " " + ev.SocketID
			}
			got = append(got, s)
		}
		refused := r.refused
		r.mu.Unlock()
		if refused > 0 {
			t.Fatalf("the Pusher SDK refused %d webhook requests", refused)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook events %q, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// webhookEnv is the environment of a webhook to r, with short timings.
func webhookEnv(t *testing.T, r *hookReceiver) []string {
	name := redistest.Name(t) + "-webhooks"
	if strings.Contains(t.Name(), "redis") || strings.Contains(t.Name(), "cluster") {
		t.Cleanup(func() {
			ins := asynq.NewInspectorFromRedisClient(redistest.Client(t))
			_ = ins.DeleteQueue(name, true)
		})
	}
	return []string{
		"REVERB_APP_WEBHOOK_URL=" + r.srv.URL + "/pusher/webhook",
		"REVERB_APP_WEBHOOK_EVENTS=channel_occupied,channel_vacated,client_event",
		"REVERB_WEBHOOK_BATCH_WINDOW=20ms", "REVERB_WEBHOOK_VACATED_DELAY=100ms",
		"REVERB_WEBHOOK_QUEUE=" + name,
	}
}

// A channel subscribed to and left tells the receiver channel_occupied, then channel_vacated,
// and a client event tells client_event, each request accepted by the Pusher SDK: on one
// node with each queue, and in a cluster (the decisions in Redis, the POSTs on asynq).
func TestWebhooksEndToEnd(t *testing.T) {
	envs := backends(t)
	envs["cluster"] = clusterEnv(t, redistest.URL(t))
	for name, env := range envs {
		t.Run(name, func(t *testing.T) {
			rec := newHookReceiver(t)
			p := startProcess(t, append(slices.Clone(env), webhookEnv(t, rec)...)...)
			a, b := p.dial(t), p.dial(t)
			a.subscribe("private-room")
			if got := rec.waitFor(t, 1); got[0] != "channel_occupied private-room" {
				t.Fatalf("first webhook event %q, want channel_occupied private-room", got[0])
			}
			b.subscribe("private-room")
			msg := `{"event":"client-typing","channel":"private-room","data":{"typing":true}}`
			if err := wsutil.WriteClientText(a.conn, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			if ev, _ := b.read(); ev != "client-typing" {
				t.Fatalf("b got %s, want client-typing", ev)
			}
			for _, c := range []*wsClient{a, b} {
				unsub := `{"event":"pusher:unsubscribe","data":{"channel":"private-room"}}`
				if err := wsutil.WriteClientText(c.conn, []byte(unsub)); err != nil {
					t.Fatal(err)
				}
			}
			got := rec.waitFor(t, 3)
			want := []string{
				"channel_occupied private-room",
				`client_event private-room client-typing {"typing":true} ` + a.socketID,
				"channel_vacated private-room",
			}
			if !slices.Equal(got, want) {
				t.Errorf("webhook events\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// The webhook queue stops with the process; with nothing pending the stop is quick.
func TestWebhooksStopWithProcess(t *testing.T) {
	rec := newHookReceiver(t)
	p := startProcess(t, webhookEnv(t, rec)...)
	p.dial(t).subscribe("private-x")
	rec.waitFor(t, 1)
	start := time.Now()
	if err := p.wait(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %s", d)
	}
}
