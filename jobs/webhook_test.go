package jobs_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
	"github.com/reverbd/reverbd/registry/redistest"
)

const (
	hookAppID  = "1"
	hookKey    = "hook-key"
	hookSecret = "hook-secret"
)

// fastRules retry quickly, so a test sees several tries in well under a second.
var fastRules = jobs.WebhookRules{Timeout: 2 * time.Second, RetryFor: 10 * time.Second, BackoffBase: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond}

// hookRequest is one request a receiver got.
type hookRequest struct {
	header http.Header
	body   []byte
	hook   *pusher.Webhook // nil when the SDK refused it
	err    error
}

// receiver is an httptest webhook endpoint that checks every request with the Pusher SDK
// and answers with the statuses it is given, in order (then 200); status 0 drops the
// connection without an answer.
type receiver struct {
	srv    *httptest.Server
	client pusher.Client

	mu       sync.Mutex
	statuses []int
	got      []hookRequest
	arrived  chan struct{}
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{
		client:   pusher.Client{AppID: hookAppID, Key: hookKey, Secret: hookSecret},
		statuses: statuses,
		arrived:  make(chan struct{}, 1000),
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	hook, err := r.client.Webhook(req.Header, body)
	r.mu.Lock()
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	r.got = append(r.got, hookRequest{header: req.Header.Clone(), body: body, hook: hook, err: err})
	r.mu.Unlock()
	r.arrived <- struct{}{}
	if status == 0 {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	w.WriteHeader(status)
}

// setStatuses replaces the statuses still to answer.
func (r *receiver) setStatuses(statuses ...int) {
	r.mu.Lock()
	r.statuses = statuses
	r.mu.Unlock()
}

// wait returns the first n requests, failing the test if they do not come within 10 s.
func (r *receiver) wait(t *testing.T, n int) []hookRequest {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		if len(r.got) >= n {
			got := slices.Clone(r.got[:n])
			r.mu.Unlock()
			return got
		}
		r.mu.Unlock()
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("%d webhook requests arrived, want %d", len(r.requests()), n)
		}
	}
}

func (r *receiver) requests() []hookRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// valid fails the test unless the SDK accepted req, with the headers reverbd promises.
func valid(t *testing.T, req hookRequest) *pusher.Webhook {
	t.Helper()
	if req.err != nil {
		t.Fatalf("the Pusher SDK refused the webhook: %v (body %s)", req.err, req.body)
	}
	if ct := req.header.Values("Content-Type"); !slices.Equal(ct, []string{"application/json"}) {
		t.Errorf("Content-Type %q, want exactly application/json", ct)
	}
	return req.hook
}

func hookApps(hooks ...config.Webhook) *registry.Apps {
	return registry.NewApps([]config.App{{ID: hookAppID, Key: hookKey, Secret: hookSecret, Webhooks: hooks}})
}

// hookBackend is one kind of webhook queue under test.
type hookBackend struct {
	name string
	// new returns a running queue; idle waits until it holds nothing left to try.
	new func(t *testing.T, rules jobs.WebhookRules, m *metrics.Metrics) (q jobs.WebhookQueue, idle func())
}

var hookBackends = []hookBackend{{
	name: "memory",
	new: func(t *testing.T, rules jobs.WebhookRules, m *metrics.Metrics) (jobs.WebhookQueue, func()) {
		q := jobs.NewMemoryWebhookQueue(jobs.MemoryWebhookParams{Rules: rules, Metrics: m})
		runHooks(t, q)
		return q, func() {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for q.Deliveries() > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d webhook deliveries still running", q.Deliveries())
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	},
}, {
	name: "asynq",
	new: func(t *testing.T, rules jobs.WebhookRules, m *metrics.Metrics) (jobs.WebhookQueue, func()) {
		rdb := redistest.Client(t)
		name := redistest.Name(t)
		q := jobs.NewAsynqWebhookQueue(jobs.AsynqWebhookParams{
			Redis: rdb, Rules: rules, Queue: name, Metrics: m, Concurrency: 4,
			PollInterval: 5 * time.Millisecond, RetryCheckInterval: 50 * time.Millisecond,
		})
		ins := asynq.NewInspectorFromRedisClient(rdb)
		t.Cleanup(func() {
			_ = ins.DeleteQueue(name, true)
			_ = ins.Close()
		})
		runHooks(t, q)
		return q, func() {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				info, err := ins.GetQueueInfo(name)
				if err == nil && info.Pending+info.Active+info.Scheduled+info.Retry == 0 {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("webhook queue not idle: %+v %v", info, err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	},
}}

// runHooks runs q until the test ends.
func runHooks(t *testing.T, q jobs.WebhookQueue) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = q.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = q.Shutdown(context.Background())
	})
}

func eachHookBackend(t *testing.T, f func(t *testing.T, b hookBackend)) {
	for _, b := range hookBackends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

var batchSeq int

// newBatch returns a batch of the test app with a fresh ID.
func newBatch(evs ...registry.WebhookEvent) registry.WebhookBatch {
	batchSeq++
	return registry.WebhookBatch{ID: "b" + strconv.Itoa(batchSeq) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36), AppID: hookAppID, TimeMS: time.Now().UnixMilli(), Events: evs}
}

func occupied(ch string) registry.WebhookEvent {
	return registry.WebhookEvent{Name: config.WebhookChannelOccupied, Channel: ch}
}

func newHookMetrics() *metrics.Metrics {
	return metrics.New(metrics.Params{Prefix: "t_", AppIDs: []string{hookAppID}})
}

// A receiver answering 500 twice, then 200, gets the batch on the third try, the same
// bytes each time, each valid for the Pusher SDK; the tries are counted.
func TestWebhookRetriedUntilAccepted(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, b hookBackend) {
		rec := newReceiver(t, 500, 503, 200)
		m := newHookMetrics()
		q, idle := b.new(t, fastRules, m)
		s := jobs.NewWebhookSender(jobs.WebhookSenderParams{Apps: hookApps(config.Webhook{URL: rec.srv.URL}), Queue: q})
		count := 3
		batch := newBatch(occupied("presence-room"), registry.WebhookEvent{Name: config.WebhookSubscriptionCount, Channel: "room", SubscriptionCount: &count},
			registry.WebhookEvent{Name: config.WebhookClientEvent, Channel: "private-chat", Event: "client-typing", Data: `{"who":"<b>ann</b>"}`, SocketID: "1.2"})
		if err := s.Send(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		got := rec.wait(t, 3)
		idle()
		for i, req := range got {
			hook := valid(t, req)
			if string(req.body) != string(got[0].body) {
				t.Errorf("try %d sent %s, the first %s", i+1, req.body, got[0].body)
			}
			if id := req.header.Get("X-Reverbd-Webhook-Id"); id == "" || id != got[0].header.Get("X-Reverbd-Webhook-Id") {
				t.Errorf("try %d has X-Reverbd-Webhook-Id %q, the first %q", i+1, id, got[0].header.Get("X-Reverbd-Webhook-Id"))
			}
			if hook.TimeMs != int(batch.TimeMS) || len(hook.Events) != 3 || hook.Events[2].Data != `{"who":"<b>ann</b>"}` || hook.Events[2].SocketID != "1.2" {
				t.Errorf("webhook %+v", hook)
			}
		}
		want := `{"time_ms":` + strconv.FormatInt(batch.TimeMS, 10) + `,"events":[{"name":"channel_occupied","channel":"presence-room"},` +
			`{"name":"subscription_count","channel":"room","subscription_count":3},` +
			`{"name":"client_event","channel":"private-chat","event":"client-typing","data":"{\"who\":\"\u003cb\u003eann\u003c/b\u003e\"}","socket_id":"1.2"}]}`
		if string(got[0].body) != want {
			t.Errorf("body\n%s\nwant\n%s", got[0].body, want)
		}
		if n := len(rec.requests()); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
		f, _ := m.Families()
		if sent, failed, retried := sample(f, "webhooks_sent_total", hookAppID), sample(f, "webhook_failures_total", hookAppID), sample(f, "webhook_retries_total", hookAppID); sent != 1 || failed != 2 || retried != 2 {
			t.Errorf("sent %v failed %v retried %v, want 1 2 2", sent, failed, retried)
		}
		if n := sample(f, "webhook_seconds", hookAppID); n != 1 {
			t.Errorf("webhook_seconds count %v, want 1", n)
		}
	})
}

// A 404 is final: one try, counted as dropped (rejected); a 429 is tried again.
func TestWebhookNotRetriedOn4xx(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, b hookBackend) {
		rec := newReceiver(t, 404)
		m := newHookMetrics()
		q, idle := b.new(t, fastRules, m)
		s := jobs.NewWebhookSender(jobs.WebhookSenderParams{Apps: hookApps(config.Webhook{URL: rec.srv.URL}), Queue: q})
		if err := s.Send(context.Background(), newBatch(occupied("a"))); err != nil {
			t.Fatal(err)
		}
		valid(t, rec.wait(t, 1)[0])
		idle()
		f, _ := m.Families()
		if n := sample(f, "webhooks_dropped_total", hookAppID, "reason", metrics.WebhookDroppedRejected); n != 1 {
			t.Errorf("dropped (rejected) %v, want 1", n)
		}
		if n := len(rec.requests()); n != 1 {
			t.Errorf("a 404 was tried %d times, want once", n)
		}
		rec.setStatuses(429, 200)
		if err := s.Send(context.Background(), newBatch(occupied("b"))); err != nil {
			t.Fatal(err)
		}
		rec.wait(t, 3)
		idle()
	})
}

// A receiver that is down (connections dropped) for a while gets every batch once it is
// back, within the budget; a batch whose budget ends first is dropped.
func TestWebhookReceiverDownThenBack(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, b hookBackend) {
		rec := newReceiver(t, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
		m := newHookMetrics()
		q, idle := b.new(t, fastRules, m)
		s := jobs.NewWebhookSender(jobs.WebhookSenderParams{Apps: hookApps(config.Webhook{URL: rec.srv.URL}), Queue: q})
		want := map[string]bool{}
		for _, ch := range []string{"one", "two", "three"} {
			if err := s.Send(context.Background(), newBatch(occupied(ch))); err != nil {
				t.Fatal(err)
			}
			want[ch] = true
		}
		rec.wait(t, 12) // every dropped connection answered
		idle()
		got := map[string]bool{}
		for _, req := range rec.requests()[12:] {
			got[valid(t, req).Events[0].Channel] = true
		}
		if len(got) != 3 || len(rec.requests()) != 15 {
			t.Errorf("after the receiver came back: channels %v of %d requests, want one, two, three in 15", got, len(rec.requests()))
		}
		f, _ := m.Families()
		if n := sample(f, "webhooks_sent_total", hookAppID); n != 3 {
			t.Errorf("sent %v, want 3", n)
		}

		// A budget of 0: one try, then dropped.
		rec.setStatuses(500)
		q0, idle0 := b.new(t, jobs.WebhookRules{Timeout: time.Second}, m)
		s0 := jobs.NewWebhookSender(jobs.WebhookSenderParams{Apps: hookApps(config.Webhook{URL: rec.srv.URL}), Queue: q0})
		if err := s0.Send(context.Background(), newBatch(occupied("late"))); err != nil {
			t.Fatal(err)
		}
		rec.wait(t, 16)
		idle0()
		f, _ = m.Families()
		if n := sample(f, "webhooks_dropped_total", hookAppID, "reason", metrics.WebhookDroppedBudget); n != 1 || len(rec.requests()) != 16 {
			t.Errorf("dropped (budget) %v after %d requests, want 1 after 16", n, len(rec.requests()))
		}
	})
}

// Each webhook gets the events of the types it wants, on the channels its filter lets
// through, and nothing when none is left; its own headers are sent, except those named like
// the ones reverbd sets.
func TestWebhookFiltersAndHeaders(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, b hookBackend) {
		chat, all := newReceiver(t), newReceiver(t)
		q, idle := b.new(t, fastRules, nil)
		apps := hookApps(config.Webhook{
			URL:        chat.srv.URL + "/hook?token=x",
			EventTypes: []string{config.WebhookClientEvent, config.WebhookChannelOccupied},
			Filter:     config.WebhookFilter{ChannelNameStartsWith: "private-", ChannelNameEndsWith: "-chat"},
			Headers:    map[string]string{"Authorization": "Bearer t0k", "x-pusher-key": "evil", "CONTENT-TYPE": "text/plain", "X-Pusher-Signature": "0"},
		}, config.Webhook{URL: all.srv.URL})
		s := jobs.NewWebhookSender(jobs.WebhookSenderParams{Apps: apps, Queue: q})
		first := newBatch(occupied("private-room"), occupied("presence-a-chat"))
		second := newBatch(occupied("private-a-chat"), registry.WebhookEvent{Name: config.WebhookChannelVacated, Channel: "private-b-chat"},
			registry.WebhookEvent{Name: config.WebhookClientEvent, Channel: "private-b-chat", Event: "client-x", Data: "{}", SocketID: "3.4"})
		for _, batch := range []registry.WebhookBatch{first, second} {
			if err := s.Send(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
		}
		all.wait(t, 2)
		chat.wait(t, 1)
		idle()
		if n := len(chat.requests()); n != 1 {
			t.Fatalf("the filtered webhook got %d requests, want 1 (the first batch has none of its events)", n)
		}
		req := chat.requests()[0]
		hook := valid(t, req)
		var names []string
		for _, ev := range hook.Events {
			names = append(names, ev.Name+" "+ev.Channel)
		}
		if want := []string{"channel_occupied private-a-chat", "client_event private-b-chat"}; !slices.Equal(names, want) {
			t.Errorf("filtered events %q, want %q", names, want)
		}
		if h := req.header.Get("Authorization"); h != "Bearer t0k" {
			t.Errorf("Authorization %q, want the webhook's own header", h)
		}
		if k := req.header.Values("X-Pusher-Key"); !slices.Equal(k, []string{hookKey}) {
			t.Errorf("X-Pusher-Key %q, want only the app key", k)
		}
		for _, r := range all.requests() {
			if n := len(valid(t, r).Events); n != 2 && n != 3 {
				t.Errorf("the unfiltered webhook got %d events", n)
			}
		}
	})
}

// A batch handed to Send again (the feed retries a batch whose send it did not see end)
// is sent once.
func TestWebhookBatchSentOnce(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, b hookBackend) {
		rec := newReceiver(t)
		q, idle := b.new(t, fastRules, nil)
		s := jobs.NewWebhookSender(jobs.WebhookSenderParams{Apps: hookApps(config.Webhook{URL: rec.srv.URL}), Queue: q})
		batch := newBatch(occupied("x"))
		for range 3 {
			if err := s.Send(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
		}
		rec.wait(t, 1)
		idle()
		if err := s.Send(context.Background(), batch); err != nil { // after it was delivered
			t.Fatal(err)
		}
		idle()
		if n := len(rec.requests()); n != 1 {
			t.Errorf("a batch handed out 4 times was sent %d times, want once", n)
		}
	})
}

// A batch of an app no longer configured is dropped without an error (nothing to send).
func TestWebhookUnknownApp(t *testing.T) {
	q := jobs.NewMemoryWebhookQueue(jobs.MemoryWebhookParams{Rules: fastRules})
	s := jobs.NewWebhookSender(jobs.WebhookSenderParams{Apps: registry.NewApps(nil), Queue: q})
	if err := s.Send(context.Background(), newBatch(occupied("x"))); err != nil {
		t.Errorf("Send: %v, want nil", err)
	}
	_ = q.Shutdown(context.Background())
	if err := q.Enqueue(context.Background(), jobs.WebhookDelivery{ID: "x"}); err != jobs.ErrQueueClosed {
		t.Errorf("Enqueue after Shutdown: %v, want ErrQueueClosed", err)
	}
}

// The sender reads the app at each batch: a reload that changes the webhook's URL applies to
// the next batch.
func TestWebhookFollowsReload(t *testing.T) {
	before, after := newReceiver(t), newReceiver(t)
	q := jobs.NewMemoryWebhookQueue(jobs.MemoryWebhookParams{Rules: fastRules})
	runHooks(t, q)
	apps := hookApps(config.Webhook{URL: before.srv.URL})
	s := jobs.NewWebhookSender(jobs.WebhookSenderParams{Apps: apps, Queue: q})
	if err := s.Send(context.Background(), newBatch(occupied("a"))); err != nil {
		t.Fatal(err)
	}
	valid(t, before.wait(t, 1)[0])
	apps.Replace([]config.App{{ID: hookAppID, Key: hookKey, Secret: hookSecret, Webhooks: []config.Webhook{{URL: after.srv.URL}}}})
	if err := s.Send(context.Background(), newBatch(occupied("b"))); err != nil {
		t.Fatal(err)
	}
	if ev := valid(t, after.wait(t, 1)[0]).Events[0]; ev.Channel != "b" {
		t.Errorf("the new URL got %+v", ev)
	}
}

// An asynq webhook task is on its own queue, named after the batch and the webhook, and its
// payload holds what the POST needs and never the app secret.
func TestWebhookAsynqTask(t *testing.T) {
	rdb := redistest.Client(t)
	name := redistest.Name(t)
	q := jobs.NewAsynqWebhookQueue(jobs.AsynqWebhookParams{Redis: rdb, Rules: fastRules, Queue: name, EnqueueOnly: true})
	ins := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() {
		_ = ins.DeleteQueue(name, true)
		_ = ins.Close()
	})
	s := jobs.NewWebhookSender(jobs.WebhookSenderParams{Apps: hookApps(config.Webhook{URL: "http://127.0.0.1:1/hook"}), Queue: q})
	batch := newBatch(occupied("a"))
	for range 2 {
		if err := s.Send(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	tasks, err := ins.ListPendingTasks(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 || tasks[0].ID != batch.ID+":0" || tasks[0].Type != jobs.TaskWebhook {
		t.Fatalf("pending tasks %+v, want one named %s:0", tasks, batch.ID)
	}
	p := string(tasks[0].Payload)
	for _, want := range []string{`"key":"` + hookKey + `"`, `"signature":"`, `"body":"{\"time_ms\":`, `"url":"http://127.0.0.1:1/hook"`} {
		if !strings.Contains(p, want) {
			t.Errorf("payload %s lacks %s", p, want)
		}
	}
	if strings.Contains(p, hookSecret) {
		t.Errorf("payload %s holds the app secret", p)
	}
	if tasks[0].MaxRetry < 5 || tasks[0].Retention < fastRules.RetryFor {
		t.Errorf("MaxRetry %d, Retention %s: too small for the budget", tasks[0].MaxRetry, tasks[0].Retention)
	}
}
