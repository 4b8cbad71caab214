package ws_test

import (
	"strings"
	"testing"
	"time"

	"github.com/reverbd/reverbd/registry/metrics"
	"github.com/reverbd/reverbd/registry/metrics/metricstest"
	rws "github.com/reverbd/reverbd/ws"
)

// metricValue scrapes m and sums the counter or gauge samples of the family whose labels
// include want (name, value pairs).
func metricValue(t *testing.T, m *metrics.Metrics, family string, want ...string) float64 {
	t.Helper()
	return metricstest.Sum(metricstest.Scrape(t, m.Handler()), family, want...)
}

// waitValue waits until the family shows value, or fails after 5 s.
func waitValue(t *testing.T, m *metrics.Metrics, value float64, family string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := metricValue(t, m, family, want...)
		if got == value {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", family, want, got, value)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A slow consumer's drop and a message over max_message_size each count once, with the
// close code the client gets.
func TestMetricsSlowConsumerAndMessageSize(t *testing.T) {
	const limit = 64 << 10
	m := metrics.New(metrics.Params{Prefix: "t_", AppIDs: []string{"3"}})
	e := newEnv(t, rws.Params{WriteLimit: limit, Metrics: m})

	c := e.dialSmallBuffer(t)
	c.subscribe("orders-1", "")
	payload := rws.EventPayload("big", "orders-1", strings.Repeat("x", limit-1<<10))
	for n := 0; e.srv.Stats().SlowConsumers == 0; n++ {
		if n > 1000 {
			t.Fatal("slow consumer was never dropped")
		}
		e.srv.Hub().DeliverFrame("3", "orders-1", "", payload)
	}
	c.readWholeFrames(payload)
	waitValue(t, m, 1, "t_slow_consumers_total", "app_id", "3")
	waitValue(t, m, 1, "t_connections_closed_total", "app_id", "3", "code", "4100")

	big := e.connect(t)
	big.sendRaw([]byte(`{"event":"client-x","data":"` + strings.Repeat("y", 10001) + `"}`))
	waitValue(t, m, 1, "t_limits_hit_total", "app_id", "3", "limit", "max_message_size")
	waitValue(t, m, 1, "t_connections_closed_total", "app_id", "3", "code", "1009")
	waitValue(t, m, 0, "t_connected", "app_id", "3")
	waitValue(t, m, 2, "t_new_disconnections_total", "app_id", "3")
}
