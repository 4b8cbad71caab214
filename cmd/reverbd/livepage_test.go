package main

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reverbd/reverbd/registry/metrics/live"
)

// adminGet is a GET on p's admin listener with the admin credentials (none when user is "").
func adminGet(t *testing.T, p *process, path, user, password string) (*http.Response, string) {
	t.Helper()
	return httpResponse(t, http.MethodGet, "http://"+p.adminAddr+path, user, password)
}

// stats reads GET /stats.json of p's admin listener.
func (p *process) stats(t *testing.T) live.Stats {
	t.Helper()
	resp, body := adminGet(t, p, "/stats.json", adminUser, adminPassword)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /stats.json: %s %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /stats.json: Content-Type %q", ct)
	}
	var st live.Stats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /stats.json: %v\n%s", err, body)
	}
	return st
}

// statsUntil reads /stats.json until ok holds for a reading, which it returns; it fails
// after 10 s, naming what.
func (p *process) statsUntil(t *testing.T, what string, ok func(live.Stats) bool) live.Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := p.stats(t)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(st.All, "", "  ")
			t.Fatalf("/stats.json never showed %s; last all:\n%s", what, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// appStats returns the app's figures in st.
func appStats(t *testing.T, st live.Stats, id string) live.AppStats {
	t.Helper()
	for _, a := range st.Apps {
		if a.AppID == id {
			return a
		}
	}
	t.Fatalf("app %s is not in /stats.json (apps: %+v)", id, st.Apps)
	return live.AppStats{}
}

// The live page's JSON moves by what clients do, through the real admin listener, queue and
// fan-out, on both queue backends: N connections are N, a trigger to a channel with M
// subscribers is M messages out (M per second over the reading's interval), one delivery
// with its percentiles; the channel's shape and the presence channel are listed.
func TestLivePageStatsMove(t *testing.T) {
	for name, env := range backends(t) {
		t.Run(name, func(t *testing.T) {
			testLivePageStats(t, startProcess(t, append(env, metricsEnv...)...))
		})
	}
}

func testLivePageStats(t *testing.T, p *process) {
	first := p.stats(t)
	if got := appStats(t, first, e2eID); got.Connections != 0 || got.MessagesOutTotal != 0 {
		t.Fatalf("before any client: %+v", got)
	}

	// N connections.
	const n = 3
	clients := make([]*wsClient, n)
	for i := range clients {
		clients[i] = p.dial(t)
	}
	st := p.statsUntil(t, "3 connections", func(st live.Stats) bool {
		return appStats(t, st, e2eID).Connections == n && st.All.Connections == n
	})
	if got := appStats(t, st, e2eID).ConnectionsTotal; got != n {
		t.Errorf("connections_total = %v, want %d", got, n)
	}

	// M subscribers, two of them also in a presence channel.
	const channel = "private-tenant.42.admins"
	for _, c := range clients {
		c.subscribe(channel)
	}
	clients[0].join("presence-room.7", "u1")
	clients[1].join("presence-room.7", "u2")
	st = p.statsUntil(t, "the channel's shape and the presence channel", func(st live.Stats) bool {
		a := appStats(t, st, e2eID)
		shape := len(a.Shapes) > 0 && a.Shapes[0].Shape == "private-tenant.{id}.admins" && a.Shapes[0].Subscriptions == n
		room := len(a.Presence) == 1 && a.Presence[0] == live.PresenceChannel{AppID: e2eID, Channel: "presence-room.7", Users: 2, Connections: 2}
		return shape && room
	})
	for _, s := range st.All.Shapes {
		if strings.Contains(s.Shape, "42") {
			t.Errorf("a channel name in the shapes: %+v", s)
		}
	}

	// A trigger to the M subscribers: M messages out, counted in the first reading after it.
	scraped := p.scrape(t, "reverbd_")
	before := p.stats(t)
	if err := p.sdk(t).Trigger(channel, "order.paid", "x"); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.expect("order.paid")
	}
	// The counters are exact once the fan-out has recorded them (a frame can reach its
	// client before that); then the next reading has them.
	p.expect(t, "reverbd_", want{name: "ws_messages_sent_total", labels: []string{"app_id", e2eID}, value: n, since: &scraped})
	after := p.statsUntil(t, "a reading after the trigger", func(st live.Stats) bool { return st.Time.After(before.Time) })
	a, b := appStats(t, before, e2eID), appStats(t, after, e2eID)
	if got := b.MessagesOutTotal - a.MessagesOutTotal; got != n {
		t.Errorf("messages_out_total moved by %v, want %d", got, n)
	}
	if b.MessagesOutPerSecond == nil || after.IntervalSeconds == nil {
		t.Fatalf("no rate after two readings: %+v, interval %v", b, after.IntervalSeconds)
	}
	if got := *b.MessagesOutPerSecond * *after.IntervalSeconds; math.Abs(got-n) > 1e-6 {
		t.Errorf("messages_out_per_second × interval = %v, want %d", got, n)
	}
	if got := b.EventsDeliveredTotal - a.EventsDeliveredTotal; got != 1 {
		t.Errorf("events_delivered_total moved by %v, want 1", got)
	}
	if b.Delivery.Count < 1 || b.Delivery.P50 == nil || b.Delivery.P99 == nil || *b.Delivery.P50 > *b.Delivery.P99 {
		t.Errorf("trigger-to-delivery percentiles: %+v", b.Delivery)
	}
	if after.All.MessagesOutTotal != b.MessagesOutTotal {
		t.Errorf("all apps: messages_out_total %v, the app's %v", after.All.MessagesOutTotal, b.MessagesOutTotal)
	}
	if after.Queue == nil {
		t.Error("the queue's backlog is missing")
	}

	// The series the charts draw end with the reading.
	s := after.Series
	last := len(s.Time) - 1
	if last < 1 || len(s.All.Connections) != len(s.Time) || *s.All.Connections[last] != n {
		t.Errorf("series: %d times, connections %v", len(s.Time), s.All.Connections)
	}
	if app := s.Apps[e2eID]; app == nil || app.MessagesOutPerSecond[last] == nil || *app.MessagesOutPerSecond[last] != *b.MessagesOutPerSecond {
		t.Errorf("series of app %s: %+v", e2eID, app)
	}
}

// The page, its files and its JSON need the admin credentials; the page links the other
// admin pages (asynq's UI with the redis queue) and keeps to its own origin. With the metrics
// off, / says why there is no page.
func TestLivePageServed(t *testing.T) {
	for name, env := range backends(t) {
		t.Run(name, func(t *testing.T) {
			p := startProcess(t, append(env, metricsEnv...)...)
			for _, path := range []string{"/", "/stats.json", "/live/live.js", "/live/live.css"} {
				if resp, _ := adminGet(t, p, path, "", ""); resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("GET %s without credentials: %s", path, resp.Status)
				}
				if resp, _ := adminGet(t, p, path, adminUser, "wrong"); resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("GET %s with a wrong password: %s", path, resp.Status)
				}
			}
			resp, page := adminGet(t, p, "/", adminUser, adminPassword)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("GET /: %s %s", resp.Status, resp.Header.Get("Content-Type"))
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
				t.Errorf("Content-Security-Policy: %q", csp)
			}
			for _, want := range []string{`src="live/live.js"`, `href="live/live.css"`, `href="metrics"`, `href="debug/pprof/"`} {
				if !strings.Contains(page, want) {
					t.Errorf("the page lacks %s", want)
				}
			}
			if asynq := strings.Contains(page, `href="asynq"`); asynq != (name == "redis") {
				t.Errorf("link to asynq's UI: %v with the %s queue", asynq, name)
			}
			if strings.Contains(page, "://") {
				t.Error("the page names another host")
			}
			for path, typ := range map[string]string{"/live/live.js": "text/javascript", "/live/live.css": "text/css", "/live/icon.svg": "image/svg+xml"} {
				resp, body := adminGet(t, p, path, adminUser, adminPassword)
				if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), typ) || body == "" {
					t.Errorf("GET %s: %s %s (%d bytes)", path, resp.Status, resp.Header.Get("Content-Type"), len(body))
				}
				if typ != "image/svg+xml" && strings.Contains(body, "://") {
					t.Errorf("%s names another host", path)
				}
			}
			if resp, _ := adminGet(t, p, "/live/nothing.js", adminUser, adminPassword); resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET /live/nothing.js: %s", resp.Status)
			}
			if name == "redis" {
				if resp, _ := adminGet(t, p, "/asynq", adminUser, adminPassword); resp.StatusCode != http.StatusOK {
					t.Errorf("GET /asynq next to the page: %s", resp.Status)
				}
			}
		})
	}

	off := startProcess(t, append(metricsEnv, "REVERB_METRICS_ENABLED=false")...)
	resp, body := adminGet(t, off, "/", adminUser, adminPassword)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "REVERB_METRICS_ENABLED=false") {
		t.Errorf("GET / with the metrics off: %s %q", resp.Status, body)
	}
}
