package metrics_test

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/reverbd/reverbd/registry/metrics"
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
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, mm := range fams["x_channels"].Metric {
		labels := map[string]string{}
		for _, l := range mm.Label {
			labels[l.GetName()] = l.GetValue()
		}
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
