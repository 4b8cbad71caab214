package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	dto "github.com/prometheus/client_model/go"
	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/registry/metrics/metricstest"
	reverbws "github.com/reverbd/reverbd/ws"
)

// metricsEnv turns the metrics on: the admin listener is configured (the tests serve it on a
// listener of their own).
var metricsEnv = []string{"REVERB_ADMIN_PORT=1"}

// scraped is one scrape of /metrics, parsed with Prometheus's own text parser.
type scraped struct {
	t      *testing.T
	prefix string
	fams   map[string]*dto.MetricFamily
}

// scrapeAs reads /metrics of p's admin listener with the given credentials, returning the
// response (its body read).
func scrapeAs(t *testing.T, p *process, user, password string) *http.Response {
	t.Helper()
	resp, _ := adminGet(t, p, "/metrics", user, password)
	return resp
}

// scrape reads and parses /metrics; the families are named without prefix in value.
func (p *process) scrape(t *testing.T, prefix string) scraped {
	t.Helper()
	resp, body := adminGet(t, p, "/metrics", adminUser, adminPassword)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	return scraped{t: t, prefix: prefix, fams: metricstest.Parse(t, body)}
}

// value sums the samples of the family name (without prefix) whose labels include want, given
// as name, value pairs; a histogram's sample is its count. A family that is missing is 0.
func (s scraped) value(name string, want ...string) float64 {
	s.t.Helper()
	return metricstest.Sum(s.fams, s.prefix+name, want...)
}

// want is what one family must show: its value, or with since set, its change since that
// scrape.
type want struct {
	name   string
	labels []string
	value  float64
	since  *scraped
}

func (w want) got(s scraped) float64 {
	v := s.value(w.name, w.labels...)
	if w.since != nil {
		v -= w.since.value(w.name, w.labels...)
	}
	return v
}

// expect scrapes until every want holds in one scrape, which it returns, and fails naming
// those that do not after 10 s. The counts are exact; the wait is only for the counting to
// catch up with what the clients saw (a frame can arrive before its fan-out is recorded, and
// the registry collects its families concurrently).
func (p *process) expect(t *testing.T, prefix string, wants ...want) scraped {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := p.scrape(t, prefix)
		var wrong []string
		for _, w := range wants {
			if got := w.got(s); got != w.value {
				what := w.name + fmt.Sprint(w.labels)
				if w.since != nil {
					what += " change"
				}
				wrong = append(wrong, fmt.Sprintf("%s = %v, want %v", what, got, w.value))
			}
		}
		if len(wrong) == 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics:\n%s", strings.Join(wrong, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Each family moves by exactly what the clients did, through the real listeners, queue and
// fan-out, on both queue backends.
func TestMetricsCountWhatClientsDo(t *testing.T) {
	for name, env := range backends(t) {
		t.Run(name, func(t *testing.T) {
			env := append(append(env, metricsEnv...), "REVERB_APP_MAX_SUBSCRIPTIONS=3")
			testMetricsCount(t, startProcess(t, env...))
		})
	}
}

func testMetricsCount(t *testing.T, p *process) {
	const pre = "reverbd_"
	app := []string{"app_id", e2eID}
	p.expect(t, pre, want{name: "connected", labels: app, value: 0})

	// N connections: connected N, each with its connection_established frame.
	a, b, c := p.dial(t), p.dial(t), p.dial(t)
	p.expect(t, pre,
		want{name: "connected", labels: []string{"app_id", e2eID, "port", "8080"}, value: 3},
		want{name: "new_connections_total", labels: app, value: 3},
		want{name: "ws_messages_sent_total", labels: app, value: 3})

	// Channels and subscriptions by kind and shape; channel names are never labels.
	const channel = "private-tenant.42.admins"
	shape := []string{"app_id", e2eID, "kind", "private", "shape", "private-tenant.{id}.admins"}
	a.subscribe(channel)
	b.subscribe(channel)
	c.subscribe("orders")
	s := p.expect(t, pre,
		want{name: "channel_subscriptions", labels: shape, value: 2},
		want{name: "channels", labels: shape, value: 1},
		want{name: "channel_subscriptions", labels: []string{"app_id", e2eID, "kind", "public", "shape", "orders"}, value: 1},
		want{name: "ws_messages_received_total", labels: app, value: 3})
	for _, f := range s.fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), "tenant.42") {
					t.Errorf("%s has a channel name as a label value: %s=%s", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}

	// A trigger to a channel with M subscribers: M frames, one delivery, one fan-out.
	before := s
	if err := p.sdk(t).Trigger(channel, "order.paid", "x"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*wsClient{a, b} {
		if ev, _ := cl.read(); ev != "order.paid" {
			t.Fatalf("got %s, want order.paid", ev)
		}
	}
	frame := float64(2 + len(reverbws.EventPayload("order.paid", channel, "x")))
	s = p.expect(t, pre,
		want{name: "ws_messages_sent_total", labels: app, value: 2, since: &before},
		want{name: "socket_transmitted_bytes", labels: app, value: 2 * frame, since: &before},
		want{name: "fanout_frames_total", labels: app, value: 2, since: &before},
		want{name: "channel_frames_sent_total", labels: shape, value: 2, since: &before},
		want{name: "events_delivered_total", labels: app, value: 1, since: &before},
		want{name: "event_queue_seconds", labels: app, value: 1, since: &before},
		want{name: "event_fanout_seconds", labels: app, value: 1, since: &before},
		want{name: "event_delivery_seconds", labels: app, value: 1, since: &before},
		want{name: "http_calls_received_total", labels: app, value: 1, since: &before},
		want{name: "http_requests_total", labels: []string{"app_id", e2eID, "route", "/apps/{app_id}/events", "status", "200"}, value: 1, since: &before},
		want{name: "http_transmitted_bytes", labels: app, value: float64(len("{}")), since: &before},
		want{name: "ws_messages_received_total", labels: app, value: 0, since: &before})
	if s.value("http_received_bytes", app...) <= before.value("http_received_bytes", app...) {
		t.Error("http_received_bytes did not grow with the trigger's body")
	}

	// One message in, one pong out, byte for byte.
	before = s
	ping := `{"event":"pusher:ping","data":{}}`
	a.send(ping)
	if ev, _ := a.read(); ev != "pusher:pong" {
		t.Fatalf("got %s, want pusher:pong", ev)
	}
	s = p.expect(t, pre,
		want{name: "ws_messages_received_total", labels: app, value: 1, since: &before},
		want{name: "socket_received_bytes", labels: app, value: float64(len(ping)), since: &before},
		want{name: "ws_messages_sent_total", labels: app, value: 1, since: &before},
		want{name: "socket_transmitted_bytes", labels: app, value: float64(2 + len(`{"event":"pusher:pong"}`)), since: &before})

	// Limits and refused signatures.
	before = s
	c.subscribe("orders-2")
	c.subscribe("orders-3")
	c.send(`{"event":"pusher:subscribe","data":{"channel":"orders-4"}}`)
	c.expect("pusher:subscription_error")
	c.send(`{"event":"pusher:subscribe","data":{"channel":"private-x","auth":"` + e2eKey + `:bad"}}`)
	c.expect("pusher:subscription_error")
	wrong := &pusher.Client{AppID: e2eID, Key: e2eKey, Secret: "wrong", Host: p.addr}
	if err := wrong.Trigger("orders", "e", "d"); err == nil {
		t.Fatal("a trigger signed with the wrong secret was accepted")
	}
	unknown := &pusher.Client{AppID: "999", Key: e2eKey, Secret: e2eSecret, Host: p.addr}
	_ = unknown.Trigger("orders", "e", "d")
	s = p.expect(t, pre,
		want{name: "limits_hit_total", labels: []string{"app_id", e2eID, "limit", "max_subscriptions"}, value: 1, since: &before},
		want{name: "auth_failures_total", labels: []string{"app_id", e2eID, "source", "subscribe"}, value: 1, since: &before},
		want{name: "auth_failures_total", labels: []string{"app_id", e2eID, "source", "http"}, value: 1, since: &before},
		want{name: "http_requests_total", labels: []string{"app_id", e2eID, "status", "401"}, value: 1, since: &before},
		want{name: "http_calls_received_total", labels: []string{"app_id", "unknown"}, value: 1, since: &before})

	// Presence members: distinct users per channel, on this node.
	members := []string{"app_id", e2eID, "shape", "presence-room.{id}"}
	a.join("presence-room.7", "u1")
	b.join("presence-room.7", "u1")
	p.expect(t, pre, want{name: "presence_members", labels: members, value: 1})
	d := p.dial(t) // c is at max_subscriptions
	d.join("presence-room.7", "u2")
	s = p.expect(t, pre, want{name: "presence_members", labels: members, value: 2})

	// Closes by code: a close frame from the client, and a connection that just ends.
	before = s
	if err := wsutil.WriteClientMessage(a.conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")); err != nil {
		t.Fatal(err)
	}
	b.conn.Close()
	s = p.expect(t, pre,
		want{name: "new_disconnections_total", labels: app, value: 2, since: &before},
		want{name: "connected", labels: app, value: 2},
		want{name: "connections_closed_total", labels: []string{"app_id", e2eID, "code", "1000"}, value: 1, since: &before},
		want{name: "connections_closed_total", labels: []string{"app_id", e2eID, "code", "1006"}, value: 1, since: &before},
		want{name: "presence_members", labels: members, value: 1})
	if s.fams[pre+"queue_events"] == nil || s.fams[pre+"queue_oldest_event_age_seconds"] == nil {
		t.Error("the queue's backlog is not reported")
	}
}

// Every family carries the configured prefix, the Go runtime's and the process's included;
// /metrics needs the admin credentials and is gone when the metrics are off.
func TestMetricsPrefixAndAccess(t *testing.T) {
	p := startProcess(t, append(metricsEnv, "REVERB_METRICS_PREFIX=soketi_")...)
	p.dial(t)
	s := p.scrape(t, "soketi_")
	for _, name := range []string{"connected", "new_connections_total", "go_goroutines", "process_cpu_seconds_total", "build_info"} {
		if s.fams["soketi_"+name] == nil {
			t.Errorf("soketi_%s is missing", name)
		}
	}
	if got := s.value("connected", "app_id", e2eID); got != 1 {
		t.Errorf("soketi_connected = %v, want 1", got)
	}
	for name := range s.fams {
		if !strings.HasPrefix(name, "soketi_") {
			t.Errorf("%s does not start with the prefix", name)
		}
	}
	if got := scrapeAs(t, p, "", "").StatusCode; got != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", got)
	}
	if got := scrapeAs(t, p, adminUser, "wrong").StatusCode; got != http.StatusUnauthorized {
		t.Errorf("with a wrong password: %d, want 401", got)
	}

	off := startProcess(t, append(metricsEnv, "REVERB_METRICS_ENABLED=false")...)
	if got := scrapeAs(t, off, adminUser, adminPassword).StatusCode; got != http.StatusNotFound {
		t.Errorf("metrics off: %d, want 404", got)
	}
}
