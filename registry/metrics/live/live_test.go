package live

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// The estimate is Prometheus's histogram_quantile: linear within the bucket that holds the
// rank, from 0 below the first bound, the highest finite bound past the last.
func TestQuantileAsPrometheus(t *testing.T) {
	h := histogram{bounds: []float64{1, 2, 4}, counts: []float64{1, 3, 4, 4}}
	for _, c := range []struct{ q, want float64 }{
		{.25, 1},    // rank 1: the top of the first bucket
		{.5, 1.5},   // rank 2: halfway through (1,2]
		{.99, 3.92}, // rank 3.96: 96 % through (2,4]
		{.1, .4},    // rank 0.4: from 0 within (0,1]
	} {
		if got, ok := h.quantile(c.q); !ok || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("q=%v: %v %v, want %v", c.q, got, ok, c.want)
		}
	}
	inf := histogram{bounds: []float64{1, 2, 4}, counts: []float64{0, 0, 0, 5}}
	if got, _ := inf.quantile(.5); got != 4 {
		t.Errorf("past every bound: %v, want 4", got)
	}
	if _, ok := (histogram{bounds: []float64{1}, counts: []float64{0, 0}}).quantile(.5); ok {
		t.Error("a quantile without observations")
	}
	d := h.since(&histogram{bounds: h.bounds, counts: []float64{1, 1, 1, 1}})
	if got, _ := d.quantile(.5); math.Abs(got-1.75) > 1e-9 { // 3 new: 2 in (1,2], 1 in (2,4]; rank 1.5
		t.Errorf("since: p50 %v", got)
	}
}

// clock is the sampler's time, moved by the test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestSampler(t *testing.T, occupancy Occupancy) (*sampler, *metrics.Metrics, *clock) {
	t.Helper()
	m := metrics.New(metrics.Params{Prefix: "t_", Port: 6001, AppIDs: []string{"a", "b"}, Version: "v1"})
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	return &sampler{metrics: m, occupancy: occupancy, now: c.now}, m, c
}

func (s *sampler) read(t *testing.T) Stats {
	t.Helper()
	b, err := s.statsJSON(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func appOf(t *testing.T, st Stats, id string) AppStats {
	t.Helper()
	for _, a := range st.Apps {
		if a.AppID == id {
			return a
		}
	}
	t.Fatalf("no app %s in %+v", id, st.Apps)
	return AppStats{}
}

func near(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-9 }

// Rates are the change between two readings over their interval; a poll sooner than
// minInterval gets the same reading; All sums the apps; "unknown" shows once counted.
func TestRatesBetweenReadings(t *testing.T) {
	s, m, c := newTestSampler(t, nil)
	first := s.read(t)
	if first.IntervalSeconds != nil || appOf(t, first, "a").MessagesOutPerSecond != nil {
		t.Errorf("rates on the first reading: %+v", first)
	}
	if len(first.Apps) != 2 || first.Version != "v1" {
		t.Errorf("apps %+v, version %q: want a and b (unknown hidden), v1", first.Apps, first.Version)
	}

	a, b := m.App("a"), m.App("b")
	a.Connected()
	a.Connected()
	b.Connected()
	a.Sent(10, 1000)
	b.Sent(4, 40)
	a.Received(30)
	c.t = c.t.Add(2 * time.Second)
	st := s.read(t)
	if !near(st.IntervalSeconds, 2) {
		t.Fatalf("interval %v, want 2", st.IntervalSeconds)
	}
	sa := appOf(t, st, "a")
	if sa.Connections != 2 || !near(sa.MessagesOutPerSecond, 5) || !near(sa.BytesOutPerSecond, 500) || !near(sa.MessagesInPerSecond, .5) {
		t.Errorf("app a: %+v", sa)
	}
	if st.All.Connections != 3 || !near(st.All.MessagesOutPerSecond, 7) || st.All.MessagesOutTotal != 14 {
		t.Errorf("all: %+v", st.All)
	}

	a.Sent(100, 100)
	c.t = c.t.Add(500 * time.Millisecond)
	if again := s.read(t); !again.Time.Equal(st.Time) {
		t.Errorf("a poll %v after the last reading took a new one", 500*time.Millisecond)
	}
	c.t = c.t.Add(500 * time.Millisecond) // 1 s after the last reading
	if got := appOf(t, s.read(t), "a"); !near(got.MessagesOutPerSecond, 100) {
		t.Errorf("rate over 1 s: %v, want 100", got.MessagesOutPerSecond)
	}

	m.App("nope").HTTPCall("/apps/{app_id}/events", 404, 10, 10)
	m.App("nope").Connected()
	c.t = c.t.Add(time.Second)
	if got := s.read(t); len(got.Apps) != 3 || got.Apps[2].AppID != metrics.UnknownApp {
		t.Errorf("apps once unknown was counted: %+v", got.Apps)
	}
}

// Percentiles cover the trailing window: what was observed before it no longer counts.
func TestPercentilesOverTheWindow(t *testing.T) {
	s, m, c := newTestSampler(t, nil)
	a := m.App("a")
	for range 100 {
		a.FannedOut(1, time.Millisecond, 3*time.Millisecond) // (2.5 ms, 5 ms]
	}
	st := s.read(t) // the first reading: since the start
	if d := appOf(t, st, "a").Delivery; d.Count != 100 || d.P50 == nil || *d.P50 <= .0025 || *d.P50 > .005 {
		t.Errorf("first reading: %+v", d)
	}
	for range 10 {
		c.t = c.t.Add(time.Second)
		s.read(t)
	}
	for range 10 {
		a.FannedOut(1, time.Millisecond, 200*time.Millisecond) // (100 ms, 250 ms]
	}
	c.t = c.t.Add(time.Second)
	st = s.read(t)
	d := appOf(t, st, "a").Delivery
	if d.Count != 10 || d.P50 == nil || *d.P50 <= .1 || *d.P50 > .25 || d.P99 == nil || *d.P99 < *d.P50 {
		t.Errorf("after the window: %+v (window %v s)", d, st.WindowSeconds)
	}
	if st.WindowSeconds < 10 || st.WindowSeconds > 11 {
		t.Errorf("window %v s, want 10 to 11", st.WindowSeconds)
	}
	if st.All.Delivery.Count != 10 || *st.All.Delivery.P50 != *d.P50 {
		t.Errorf("all apps' percentiles %+v, app a's %+v", st.All.Delivery, d)
	}
	if q := appOf(t, st, "b").Delivery; q.Count != 0 || q.P50 != nil {
		t.Errorf("an app without events: %+v", q)
	}
}

// The busiest shapes come first, by frames per second; the series keep two minutes.
func TestShapesAndSeries(t *testing.T) {
	s, m, c := newTestSampler(t, nil)
	a := m.App("a")
	quiet, busy := a.Channels("public", "news"), a.Channels("private", "private-orders.{id}")
	quiet.Opened()
	quiet.Subscribed()
	quiet.Subscribed()
	busy.Opened()
	busy.Subscribed()
	s.read(t)
	busy.Sent(50, 500)
	quiet.Sent(1, 10)
	c.t = c.t.Add(time.Second)
	st := s.read(t)
	shapes := appOf(t, st, "a").Shapes
	if len(shapes) != 2 || shapes[0].Shape != "private-orders.{id}" || !near(shapes[0].FramesPerSecond, 50) ||
		shapes[1].Shape != "news" || shapes[1].Subscriptions != 2 || shapes[0].AppID != "a" {
		t.Errorf("shapes: %+v", shapes)
	}
	if len(st.All.Shapes) != 2 || st.All.Shapes[0].Shape != shapes[0].Shape || !near(st.All.Shapes[0].FramesPerSecond, 50) {
		t.Errorf("all apps' shapes: %+v", st.All.Shapes)
	}

	for range 200 {
		c.t = c.t.Add(time.Second)
		st = s.read(t)
	}
	n := len(st.Series.Time)
	if n < 120 || n > 122 || st.Series.Time[n-1]-st.Series.Time[0] > span.Seconds() {
		t.Errorf("series of %d readings over %v s, want 2 minutes", n, st.Series.Time[n-1]-st.Series.Time[0])
	}
	if len(st.Series.Apps["a"].Connections) != n || len(st.Series.All.MessagesOutPerSecond) != n || len(st.Series.QueueEvents) != n {
		t.Error("the series' columns differ in length")
	}
}

// The largest presence channels come from the occupancy, listed again every presenceEvery.
func TestPresenceFromOccupancy(t *testing.T) {
	ctx := context.Background()
	occ := registry.NewMemoryOccupancy()
	join := func(channel, socket, user string) {
		t.Helper()
		if _, err := occ.Subscribe(ctx, "a", channel, socket, &registry.Member{UserID: user}, 0); err != nil {
			t.Fatal(err)
		}
	}
	join("presence-small", "1.1", "u1")
	join("presence-big", "1.2", "u1")
	join("presence-big", "1.3", "u2")
	join("presence-big", "1.4", "u2")
	if _, err := occ.Subscribe(ctx, "a", "private-x", "1.5", nil, 0); err != nil {
		t.Fatal(err)
	}
	s, _, c := newTestSampler(t, occ)
	st := s.read(t)
	want := []PresenceChannel{
		{AppID: "a", Channel: "presence-big", Users: 2, Connections: 3},
		{AppID: "a", Channel: "presence-small", Users: 1, Connections: 1},
	}
	got := appOf(t, st, "a").Presence
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("presence: %+v, want %+v", got, want)
	}
	join("presence-small", "1.6", "u2")
	join("presence-small", "1.7", "u3")
	c.t = c.t.Add(time.Second)
	if got := appOf(t, s.read(t), "a").Presence; got[0].Channel != "presence-big" {
		t.Errorf("listed again before presenceEvery: %+v", got)
	}
	c.t = c.t.Add(presenceEvery)
	st = s.read(t)
	if got := st.All.Presence; got[0] != (PresenceChannel{AppID: "a", Channel: "presence-small", Users: 3, Connections: 3}) {
		t.Errorf("after presenceEvery: %+v", got)
	}
}

// BenchmarkReading is the cost of one reading for /stats.json (the page polls once a
// second): gathering every family, two apps of 100 channel shapes each, and two minutes of
// series in the JSON.
func BenchmarkReading(b *testing.B) {
	m := metrics.New(metrics.Params{Prefix: "t_", Port: 6001, AppIDs: []string{"a", "b"}, Version: "v1"})
	for _, id := range []string{"a", "b"} {
		app := m.App(id)
		for i := range metrics.MaxShapes {
			c := app.Channels("private", "private-s"+strconv.Itoa(i)+".{id}")
			c.Opened()
			c.Subscribed()
			c.Sent(i, 100*i)
		}
		app.FannedOut(10, time.Millisecond, 3*time.Millisecond)
	}
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	s := &sampler{metrics: m, now: c.now}
	ctx := context.Background()
	for range 120 {
		c.t = c.t.Add(time.Second)
		if _, err := s.statsJSON(ctx); err != nil {
			b.Fatal(err)
		}
	}
	size := 0
	b.ReportAllocs()
	for b.Loop() {
		c.t = c.t.Add(time.Second)
		out, err := s.statsJSON(ctx)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "json-bytes")
}
