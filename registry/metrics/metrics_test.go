package metrics_test

import (
	"strconv"
	"testing"

	"github.com/reverbd/reverbd/registry/metrics"
	"github.com/reverbd/reverbd/registry/metrics/metricstest"
)

// Past MaxShapes shapes an app's channels count under "other", kind by kind, so a stream of
// new channel names never makes new series.
func TestShapesAreBounded(t *testing.T) {
	m := metrics.New(metrics.Params{Prefix: "x_", Port: 6001, AppIDs: []string{"a"}})
	app := m.App("a")
	for i := range metrics.MaxShapes + 50 {
		app.Channels("private", "private-s"+strconv.Itoa(i)).Opened()
	}
	app.Channels("public", "p-new").Opened()
	if got := app.Channels("private", "private-s"+strconv.Itoa(metrics.MaxShapes+1)).Shape(); got != metrics.OtherShape {
		t.Errorf("shape past the bound = %q, want %q", got, metrics.OtherShape)
	}
	if got := app.Channels("private", "private-s3").Shape(); got != "private-s3" {
		t.Errorf("shape within the bound = %q", got)
	}
	fams := metricstest.Scrape(t, m.Handler())
	series := map[string]float64{}
	for _, mm := range fams["x_channels"].Metric {
		labels := metricstest.Labels(mm)
		series[labels["kind"]+" "+labels["shape"]] = mm.Gauge.GetValue()
	}
	if len(series) != metrics.MaxShapes+2 {
		t.Errorf("%d series of channels, want %d", len(series), metrics.MaxShapes+2)
	}
	if series["private other"] != 50 || series["public other"] != 1 {
		t.Errorf("other: private %v, public %v; want 50 and 1", series["private other"], series["public other"])
	}
}

// A nil Metrics, App or Channels counts nothing and never panics: the code that counts does
// not check whether metrics are on.
func TestNilCountsNothing(t *testing.T) {
	var m *metrics.Metrics
	app := m.App("a")
	app.Connected()
	app.Sent(1, 10)
	app.Closed(1000)
	app.LimitHit(metrics.LimitRateLimit)
	ch := app.Channels("public", "orders")
	ch.Subscribed()
	ch.Sent(3, 30)
	m.ObserveRelayLag("event", 1)
	m.Gauge("g", "help", nil, func(func(float64, ...string)) {})
	if app != nil || ch != nil {
		t.Error("nil metrics gave handles")
	}
}

// An id that is not configured counts under UnknownApp.
func TestUnknownApp(t *testing.T) {
	m := metrics.New(metrics.Params{Prefix: "x_", AppIDs: []string{"a"}})
	if got := m.App("zzz").ID(); got != metrics.UnknownApp {
		t.Errorf("App(zzz).ID() = %q", got)
	}
	if got := m.App("a").ID(); got != "a" {
		t.Errorf("App(a).ID() = %q", got)
	}
}

// SetApps follows a reload: an added app counts under its own app_id (its series exported at
// 0 at once), a removed app's series are gone from every family and its id counts as unknown,
// a kept app keeps its values, and a handle of the removed app still held (by a connection
// accepted before) makes no series of it again.
func TestSetAppsFollowsAReload(t *testing.T) {
	m := metrics.New(metrics.Params{Prefix: "x_", AppIDs: []string{"kept", "gone"}})
	m.App("kept").Connected()
	gone := m.App("gone")
	gone.Connected()
	gone.Closed(1000)
	gone.LimitHit(metrics.LimitRateLimit)
	gone.Channels("public", "orders").Opened()

	m.SetApps([]string{"kept", "added"})
	if got := m.App("added").ID(); got != "added" {
		t.Errorf("added app counts as %q", got)
	}
	if got := m.App("gone").ID(); got != metrics.UnknownApp {
		t.Errorf("removed app counts as %q, want %q", got, metrics.UnknownApp)
	}
	gone.Closed(4001)
	gone.AuthFailed(metrics.AuthSubscribe)
	gone.WebhookDropped(metrics.WebhookDroppedBudget)
	gone.Disconnected()
	if ch := gone.Channels("public", "other-orders"); ch != nil {
		t.Error("a removed app got channel handles")
	}

	fams, err := m.Families()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for name, f := range fams {
		for _, s := range f.Metric {
			for _, l := range s.Label {
				if l.GetName() == "app_id" {
					ids[l.GetValue()] = true
					if l.GetValue() == "gone" {
						t.Errorf("%s still has a series of the removed app", name)
					}
				}
			}
		}
	}
	if !ids["added"] || !ids["kept"] {
		t.Errorf("app_id values %v, want kept and added", ids)
	}
	connected := map[string]float64{}
	for _, s := range fams["connected"].Metric {
		connected[s.Label[0].GetValue()] = s.Gauge.GetValue()
	}
	if connected["kept"] != 1 || connected["added"] != 0 {
		t.Errorf("connected %v, want kept 1 and added 0", connected)
	}

	// Added again, the app starts from 0 (a counter reset to Prometheus).
	m.SetApps([]string{"kept", "gone"})
	again := m.App("gone")
	if again == gone || again.ID() != "gone" {
		t.Fatal("an app added again did not get handles of its own")
	}
	fams, _ = m.Families()
	for _, s := range fams["new_connections_total"].Metric {
		if s.Label[0].GetValue() == "gone" && s.Counter.GetValue() != 0 {
			t.Errorf("an app added again starts at %v, want 0", s.Counter.GetValue())
		}
	}
}
