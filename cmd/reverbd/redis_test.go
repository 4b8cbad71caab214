package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
	"github.com/hibiken/asynq"

	"github.com/reverbd/reverbd/registry/redistest"
)

// redisQueueEnv is the environment of a process on the redis queue, with a queue of its own
// that is removed with the test.
func redisQueueEnv(t *testing.T) []string {
	t.Helper()
	url := redistest.URL(t)
	name := redistest.Name(t)
	t.Cleanup(func() {
		ins := asynq.NewInspectorFromRedisClient(redistest.Client(t))
		_ = ins.DeleteQueue(name, true)
	})
	return []string{"REVERB_QUEUE_CONNECTION=redis", "REDIS_URL=" + url, "REVERB_QUEUE_NAME=" + name}
}

func queueName(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "REVERB_QUEUE_NAME="); ok {
			return v
		}
	}
	return ""
}

// A task queued through the HTTP API carries the delivery rules, read back from Redis with
// asynq's Inspector while the queue is paused, and is delivered once the queue resumes.
func TestTaskQueuedThroughTheAPI(t *testing.T) {
	env := redisQueueEnv(t)
	name := queueName(env)
	p := startProcess(t, env...)
	c := p.dial(t)
	c.subscribe("private-tenant.7")

	ins := asynq.NewInspectorFromRedisClient(redistest.Client(t))
	if err := ins.PauseQueue(name); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := p.sdk(t).Trigger("private-tenant.7", "order.paid", map[string]int{"id": 1}); err != nil {
		t.Fatal(err)
	}
	tasks, err := ins.ListPendingTasks(name)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("pending = %d tasks, %v; want 1", len(tasks), err)
	}
	ti := tasks[0]
	if ti.Type != "reverbd:broadcast" || ti.MaxRetry != 0 || ti.Timeout != 30*time.Second {
		t.Errorf("task: type %s, MaxRetry %d, Timeout %v; want reverbd:broadcast, 0, 30s", ti.Type, ti.MaxRetry, ti.Timeout)
	}
	if d := ti.Deadline.Sub(before); d < 59*time.Second || d > 61*time.Second {
		t.Errorf("deadline %v after the trigger, want 60 s", d)
	}
	if err := ins.UnpauseQueue(name); err != nil {
		t.Fatal(err)
	}
	if ev, data := c.read(); ev != "order.paid" || data != `{"id":1}` {
		t.Errorf("got %s %s", ev, data)
	}
}

// Tasks still queued when the server stops stay in Redis and are delivered by the next start.
func TestQueuedTasksSurviveARestart(t *testing.T) {
	env := redisQueueEnv(t)
	name := queueName(env)
	ins := asynq.NewInspectorFromRedisClient(redistest.Client(t))
	if err := ins.PauseQueue(name); err != nil {
		t.Fatal(err)
	}
	first := startProcess(t, env...)
	sdk := first.sdk(t)
	for _, ev := range []string{"order.paid", "order.shipped", "order.refunded"} {
		if err := sdk.Trigger("orders", ev, "{}"); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.wait(); err != nil {
		t.Fatal(err)
	}
	if info, err := ins.GetQueueInfo(name); err != nil || info.Pending != 3 {
		t.Fatalf("after stop: %+v, %v; want 3 pending", info, err)
	}
	second := startProcess(t, env...)
	c := second.dial(t)
	c.subscribe("orders")
	if err := ins.UnpauseQueue(name); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"order.paid", "order.shipped", "order.refunded"} {
		if ev, _ := c.read(); ev != want {
			t.Errorf("got %s, want %s", ev, want)
		}
	}
}

// With Redis down, triggers get 503 with a JSON error, /up answers 503, connected clients
// are still served, and everything recovers when Redis is back.
func TestRedisOutage(t *testing.T) {
	srv := redistest.StartServer(t)
	p := startProcess(t, "REVERB_QUEUE_CONNECTION=redis", "REDIS_URL="+srv.URL())
	c := p.dial(t)
	c.subscribe("orders")
	sdk := p.sdk(t)
	if err := sdk.Trigger("orders", "before", "{}"); err != nil {
		t.Fatal(err)
	}
	if ev, _ := c.read(); ev != "before" {
		t.Fatalf("got %s", ev)
	}

	srv.Stop()
	err := sdk.Trigger("orders", "during", "{}")
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), `"error"`) {
		t.Errorf("trigger with Redis down: %v, want a 503 JSON error", err)
	}
	waitUp(t, p, http.StatusServiceUnavailable)
	if err := wsutil.WriteClientText(c.conn, []byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	if ev, _ := c.read(); ev != "pusher:pong" {
		t.Errorf("connected client during the outage got %s, want pusher:pong", ev)
	}

	srv.Start()
	waitUp(t, p, http.StatusOK)
	if err := sdk.Trigger("orders", "after", "{}"); err != nil {
		t.Fatal(err)
	}
	if ev, _ := c.read(); ev != "after" {
		t.Errorf("after the outage got %s", ev)
	}
}

// waitUp polls GET /up until it answers want; the limit exists only to fail.
func waitUp(t *testing.T, p *process, want int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + p.addr + "/up")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				if !json.Valid(body) {
					t.Errorf("/up body %q is not JSON", body)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/up never answered %d", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The web UI and pprof live on the admin listener only, behind basic auth.
func TestAdminListener(t *testing.T) {
	p := startProcess(t, redisQueueEnv(t)...) // with adminUser and adminPassword
	get := func(url, user string) int {
		status, _, _ := httpDo(t, http.MethodGet, url, user, "pw")
		return status
	}
	cases := []struct {
		url, user string
		want      int
	}{
		{"http://" + p.adminAddr + "/asynq", "ops", 200},
		{"http://" + p.adminAddr + "/asynq/api/queues", "ops", 200},
		{"http://" + p.adminAddr + "/debug/pprof/", "ops", 200},
		{"http://" + p.adminAddr + "/asynq", "", 401},
		{"http://" + p.adminAddr + "/asynq", "intruder", 401},
		{"http://" + p.addr + "/asynq", "ops", 404},
		{"http://" + p.addr + "/debug/pprof/", "ops", 404},
	}
	for _, tc := range cases {
		if got := get(tc.url, tc.user); got != tc.want {
			t.Errorf("GET %s as %q = %d, want %d", tc.url, tc.user, got, tc.want)
		}
	}
}
