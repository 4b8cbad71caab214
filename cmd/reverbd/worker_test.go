package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reverbd/reverbd/registry/redistest"
)

// workerAdmin is a `reverbd worker` binary serving its admin listener on adminAddr (the
// process's scrape helpers read it).
type workerAdmin struct {
	process
	cmd *exec.Cmd
	log *lockedBuffer
}

// startAdminWorker runs `reverbd worker --env-file envFile` with env (and PATH only) and
// an admin listener on a free loopback port with the test's credentials, until the test ends.
// A port taken before the worker binds it is tried again with another.
func startAdminWorker(t *testing.T, envFile string, env []string) *workerAdmin {
	t.Helper()
	buildBinary(t)
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		cmd := exec.Command(binaryPath, "worker", "--env-file", envFile)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "REVERB_WORKER_ADMIN_PORT=" + port,
			"REVERB_ADMIN_USERNAME=" + adminUser, "REVERB_ADMIN_PASSWORD=" + adminPassword}, env...)
		w := &workerAdmin{process: process{adminAddr: "127.0.0.1:" + port}, cmd: cmd, log: new(lockedBuffer)}
		cmd.Stderr = w.log
		startUntilTestEnds(t, cmd)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			logs := w.log.String()
			if strings.Contains(logs, `msg="reverbd worker started"`) && strings.Contains(logs, `msg="admin listener started"`) {
				return w
			}
			if strings.Contains(logs, "address already in use") && attempt < 5 {
				break
			}
			if time.Now().After(deadline) || cmd.ProcessState != nil {
				t.Fatalf("worker did not start:\n%s", logs)
			}
		}
	}
}

// A `reverbd worker` with an admin port serves /metrics behind basic auth, and counts there
// what it does for socket nodes at REVERB_QUEUE_WORKERS=false: the webhook POST it makes (a
// receiver checking it with the Pusher SDK) and the broadcast it delivers (a subscriber on
// the node gets it). The node, which runs no workers, counts neither.
func TestWorkerServesItsMetrics(t *testing.T) {
	env := clusterEnv(t, redistest.URL(t))
	rec := newHookReceiver(t)
	hookQueue := redistest.Name(t) + "-webhooks"
	t.Cleanup(func() { _ = asynq.NewInspectorFromRedisClient(redistest.Client(t)).DeleteQueue(hookQueue, true) })
	env = append(env, webhookEnv(t, rec)...)
	node := startProcess(t, append(append(env, metricsEnv...), "REVERB_QUEUE_WORKERS=false")...)
	w := startAdminWorker(t, os.DevNull, append(env,
		"REVERB_APP_ID="+e2eID, "REVERB_APP_KEY="+e2eKey, "REVERB_APP_SECRET="+e2eSecret))
	waitUp(t, node, http.StatusOK)

	if got := scrapeAs(t, &w.process, "", "").StatusCode; got != http.StatusUnauthorized {
		t.Errorf("worker's /metrics without credentials: %d, want 401", got)
	}
	if got := scrapeAs(t, &w.process, adminUser, "wrong").StatusCode; got != http.StatusUnauthorized {
		t.Errorf("worker's /metrics with a wrong password: %d, want 401", got)
	}
	const pre = "reverbd_"
	app := []string{"app_id", e2eID}
	before := w.expect(t, pre, want{name: "webhooks_sent_total", labels: app, value: 0},
		want{name: "events_delivered_total", labels: app, value: 0})

	// A subscribe occupies the channel: the node enqueues the webhook, the worker POSTs it.
	c := node.dial(t)
	c.subscribe("private-room")
	if got := rec.waitFor(t, 1); got[0] != "channel_occupied private-room" {
		t.Fatalf("webhook event %q, want channel_occupied private-room", got[0])
	}
	s := w.expect(t, pre,
		want{name: "webhooks_sent_total", labels: app, value: 1},
		want{name: "webhook_seconds", labels: app, value: 1},
		want{name: "webhook_failures_total", labels: app, value: 0},
		want{name: "webhooks_dropped_total", labels: app, value: 0})
	if s.fams[pre+"webhook_retries_total"] == nil {
		t.Error("webhook_retries_total is not exported")
	}

	// A trigger on the node: the worker delivers it and publishes it to the node.
	if err := node.sdk(t).Trigger("private-room", "order.paid", "x"); err != nil {
		t.Fatal(err)
	}
	c.expect("order.paid")
	s = w.expect(t, pre,
		want{name: "events_delivered_total", labels: app, value: 1},
		want{name: "event_queue_seconds", labels: app, value: 1},
		want{name: "events_stale_total", labels: app, value: 0},
		want{name: "relay_publish_errors_total", value: 0})
	if got := s.value("relay_published_total") - before.value("relay_published_total"); got < 1 {
		t.Errorf("relay_published_total grew by %v, want at least the event", got)
	}
	if s.value("redis_command_seconds") == 0 {
		t.Error("redis_command_seconds counted no command")
	}
	for _, name := range []string{"queue_events", "queue_oldest_event_age_seconds", "deliveries_lost_total", "build_info", "go_goroutines"} {
		if s.fams[pre+name] == nil {
			t.Errorf("the worker does not export %s", name)
		}
	}
	node.expect(t, pre,
		want{name: "events_delivered_total", labels: app, value: 0},
		want{name: "webhooks_sent_total", labels: app, value: 0},
		want{name: "event_delivery_seconds", labels: app, value: 1})

	// The live page and the web UI are there too.
	resp, body := adminGet(t, &w.process, "/stats.json", adminUser, adminPassword)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"app_id":"`+e2eID+`"`) {
		t.Errorf("worker's /stats.json: %s %.200s", resp.Status, body)
	}
	if resp, _ := adminGet(t, &w.process, "/asynq/", adminUser, adminPassword); resp.StatusCode != http.StatusOK {
		t.Errorf("worker's /asynq/: %s", resp.Status)
	}

	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("worker after SIGTERM: %v\n%s", err, w.log.String())
	}
}

// With its metrics on, a worker's SIGHUP reads the apps again for the app_id labels: an app
// added (as on the socket nodes' reload) gets its own series, a removed one's are gone.
func TestWorkerSIGHUPReloadsMetricsApps(t *testing.T) {
	env := clusterEnv(t, redistest.URL(t))
	envFile := filepath.Join(t.TempDir(), ".env")
	write := func(id string) {
		t.Helper()
		lines := append([]string{"REVERB_APP_ID=" + id, "REVERB_APP_KEY=key-" + id, "REVERB_APP_SECRET=secret-" + id}, env...)
		if err := writeFile(envFile, strings.Join(lines, "\n")+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	write("10")
	w := startAdminWorker(t, envFile, nil)
	const pre = "reverbd_"
	s := w.scrape(t, pre)
	if s.fams[pre+"events_delivered_total"] == nil || s.value("connected", "app_id", "10") != 0 {
		t.Fatal("app 10 has no series")
	}
	write("30")
	if err := w.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n := &tlsNode{t: t, log: w.log}
	n.waitLog(`msg="apps reloaded for the metrics`, 1)
	ids := map[string]bool{}
	for _, m := range w.scrape(t, pre).fams[pre+"events_delivered_total"].Metric {
		for _, l := range m.Label {
			ids[l.GetValue()] = true
		}
	}
	if !ids["30"] || ids["10"] {
		t.Errorf("events_delivered_total app_id values after the reload: %v, want 30 and not 10", ids)
	}
}

// A worker whose admin port is taken (a socket node's, from a shared .env) says so in one
// error line and delivers all the same.
func TestWorkerWithATakenAdminPortStillRuns(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, port, _ := net.SplitHostPort(held.Addr().String())
	buildBinary(t)
	cmd := exec.Command(binaryPath, "worker", "--env-file", os.DevNull)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "REVERB_WORKER_ADMIN_PORT=" + port,
		"REVERB_ADMIN_USERNAME=" + adminUser, "REVERB_ADMIN_PASSWORD=" + adminPassword,
		"REVERB_APP_ID=" + e2eID, "REVERB_APP_KEY=" + e2eKey, "REVERB_APP_SECRET=" + e2eSecret}, clusterEnv(t, redistest.URL(t))...)
	logs := new(lockedBuffer)
	cmd.Stderr = logs
	startUntilTestEnds(t, cmd)
	n := &tlsNode{t: t, log: logs}
	n.waitLog(`msg="reverbd worker started"`, 1)
	if got := strings.Count(logs.String(), "admin listener not started"); got != 1 || !strings.Contains(logs.String(), "(REVERB_WORKER_ADMIN_PORT)") {
		t.Errorf("%d lines about the admin listener, want 1 naming the setting:\n%s", got, logs.String())
	}
}
