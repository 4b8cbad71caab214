package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry/redistest"
)

var logMsg = regexp.MustCompile(`level=(?:WARN|ERROR) msg=("(?:[^"\\]|\\.)*"|\S+)(?: component=(\S+))?`)

// With Redis unreachable at start, one error names the setting in use (the password masked)
// and what to check; the process serves on (503), and what fails every second while Redis is
// away (asynq's pollers, the lease, the relay) is not logged again and again: once per
// component (the broadcast queue's asynq and the webhook queue's each say it once).
func TestRedisDownAtStart(t *testing.T) {
	const password = "hunter2-not-logged"
	port := freePort(t)
	t.Setenv("REDIS_URL", fmt.Sprintf("redis://:%s@127.0.0.1:%s/3", password, port))
	envFile := appEnvFile(t, "REVERB_SCALING_ENABLED=true", "REVERB_QUEUE_CONNECTION=redis",
		"REVERB_SCALING_LEASE=1s", "REVERB_SCALING_PREFIX="+redistest.Name(t))
	setting := fmt.Sprintf("REDIS_URL=redis://:xxxxx@127.0.0.1:%s/3", port)

	c := startCommand(t, "start", "--env-file", envFile, "--host", "127.0.0.1", "--port", "0")
	waitUp(t, &process{addr: c.addr}, http.StatusServiceUnavailable)
	// The relay retries every second, the lease every third of a second, asynq's processor
	// every few seconds: all of them fail several times in this while.
	time.Sleep(3500 * time.Millisecond)
	w := startCommand(t, "worker", "--env-file", envFile) // it checks Redis before its "started" line

	for name, cmd := range map[string]*command{"start": c, "worker": w} {
		log := cmd.log.String()
		if n := strings.Count(log, setting); n != 1 || !strings.Contains(log, `level=ERROR msg="redis does not answer`) {
			t.Errorf("%s: %d lines name %s, want one error:\n%s", name, n, setting, log)
		}
		if !strings.Contains(log, "check=\"that Redis runs") {
			t.Errorf("%s: the error says nothing to check:\n%s", name, log)
		}
		if strings.Contains(log, password) {
			t.Errorf("%s: the log holds the Redis password:\n%s", name, log)
		}
		seen := map[string]bool{}
		for _, m := range logMsg.FindAllStringSubmatch(log, -1) {
			key := m[1] + " component=" + m[2]
			if seen[key] {
				t.Errorf("%s: %s logged more than once:\n%s", name, key, log)
			}
			seen[key] = true
		}
	}
	if code := c.stop(); code != 0 {
		t.Errorf("start exited %d", code)
	}
}

func TestRedisSettingMasksThePassword(t *testing.T) {
	cases := []struct {
		cfg  config.Config
		want string
	}{
		{config.Config{RedisURL: "redis://app:s3cret@redis.internal:6380/2"}, "REDIS_URL=redis://app:xxxxx@redis.internal:6380/2"},
		{config.Config{RedisHost: "10.0.0.5", RedisPort: 6379, RedisDB: 1, RedisPassword: "s3cret"}, "REDIS_HOST=10.0.0.5 REDIS_PORT=6379 REDIS_DB=1"},
		{config.Config{RedisAddrs: "a:26379,b:26379", RedisSentinelMaster: "mymaster", RedisPassword: "s3cret"}, "REDIS_ADDRS=a:26379,b:26379 REDIS_SENTINEL_MASTER=mymaster"},
	}
	for _, tc := range cases {
		got, check := redisSetting(&tc.cfg)
		if got != tc.want || strings.Contains(got+check, "s3cret") || check == "" {
			t.Errorf("redisSetting = %q, %q; want %q and no password", got, check, tc.want)
		}
	}
}

// No log line of a running cluster node repeats a key (component=api component=api): the
// node logs at debug level, serves a client, a trigger and a bad request, and loses Redis
// for a while, so the API, the cluster's lease and asynq all log.
func TestLogLinesHaveNoRepeatedKeys(t *testing.T) {
	srv := redistest.StartServer(t)
	t.Setenv("REDIS_URL", srv.URL())
	envFile := appEnvFile(t, "REVERB_SCALING_ENABLED=true", "REVERB_QUEUE_CONNECTION=redis",
		"REVERB_SCALING_LEASE=1s", "REVERB_SCALING_PREFIX="+redistest.Name(t), "REVERB_DEBUG=true",
		"REVERB_ADMIN_PORT="+freePort(t), "REVERB_ADMIN_USERNAME=ops", "REVERB_ADMIN_PASSWORD=pw")
	c := startCommand(t, "start", "--env-file", envFile, "--host", "127.0.0.1", "--port", "0")
	p := &process{addr: c.addr}
	waitUp(t, p, http.StatusOK)

	client := p.dial(t)
	client.subscribe("private-orders")
	if err := p.sdk(t).Trigger("private-orders", "order.paid", "{}"); err != nil {
		t.Fatal(err)
	}
	client.expect("order.paid")
	client.send(`{"event":"pusher:bogus","data":{}}`) // logged by ws
	resp, err := http.Post("http://"+p.addr+"/apps/"+e2eID+"/events?auth_key=nope", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	srv.Stop()
	c.waitLog(t, "lease renewal failed", 10*time.Second)
	c.waitLog(t, "Dequeue error", 10*time.Second) // asynq's processor
	srv.Start()
	waitUp(t, p, http.StatusOK)
	if code := c.stop(); code != 0 {
		t.Errorf("start exited %d", code)
	}

	log := c.log.String()
	for _, want := range []string{"component=api", "component=cluster", "component=ws", "component=jobs"} {
		if !strings.Contains(log, want) {
			t.Errorf("no line with %s: the test does not cover it", want)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		seen := map[string]bool{}
		for _, k := range logKeys(line) {
			if seen[k] {
				t.Errorf("key %s repeated in %s", k, line)
			}
			seen[k] = true
		}
	}
}
