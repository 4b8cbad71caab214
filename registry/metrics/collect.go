package metrics

import "github.com/prometheus/client_golang/prometheus"

// CollectFunc reports the values of a collected family at a scrape: yield once per series,
// with the label values in the order the family names its labels.
type CollectFunc func(yield func(value float64, labelValues ...string))

// collector is a family whose values a function reports at each scrape.
type collector struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	f    CollectFunc
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.f(func(value float64, labelValues ...string) {
		ch <- prometheus.MustNewConstMetric(c.desc, c.typ, value, labelValues...)
	})
}

// Gauge registers a gauge family, named with the prefix before name, whose values f reports
// when the metrics are scraped. f must be quick and safe for concurrent use.
func (m *Metrics) Gauge(name, help string, labels []string, f CollectFunc) {
	m.collect(name, help, prometheus.GaugeValue, labels, f)
}

// Counter is Gauge for a counter: f reports totals since the process started.
func (m *Metrics) Counter(name, help string, labels []string, f CollectFunc) {
	m.collect(name, help, prometheus.CounterValue, labels, f)
}

func (m *Metrics) collect(name, help string, typ prometheus.ValueType, labels []string, f CollectFunc) {
	if m == nil {
		return
	}
	m.with.MustRegister(&collector{desc: prometheus.NewDesc(name, help, labels, nil), typ: typ, f: f})
}
