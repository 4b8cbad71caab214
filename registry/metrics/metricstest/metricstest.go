// Package metricstest reads metrics for tests as Prometheus does: the text a handler serves,
// parsed with Prometheus's own parser, and a family's samples summed by their labels.
package metricstest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape asks h for GET /metrics and parses the answer.
func Scrape(t testing.TB, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return Parse(t, rec.Body.String())
}

// Parse parses metrics in Prometheus's text format, failing the test when they do not parse.
func Parse(t testing.TB, text string) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// Labels returns m's labels by name.
func Labels(m *dto.Metric) map[string]string {
	labels := make(map[string]string, len(m.Label))
	for _, l := range m.Label {
		labels[l.GetName()] = l.GetValue()
	}
	return labels
}

// Sum adds up the samples of family whose labels include want, given as name, value pairs:
// a counter's, gauge's or untyped value, a histogram's count. A missing family is 0.
func Sum(fams map[string]*dto.MetricFamily, family string, want ...string) float64 {
	f := fams[family]
	if f == nil {
		return 0
	}
	sum := 0.0
	for _, m := range f.Metric {
		if !matches(Labels(m), want) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

// matches reports whether labels hold every name, value pair of want.
func matches(labels map[string]string, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		if labels[want[i]] != want[i+1] {
			return false
		}
	}
	return true
}
