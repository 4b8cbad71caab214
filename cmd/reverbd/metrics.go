package main

import (
	"context"
	"time"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry/metrics"
)

// newMetrics returns the process's metrics when they are on (REVERB_METRICS_ENABLED with the
// admin listener), else nil: nothing is counted then.
func newMetrics(cfg *config.Config) *metrics.Metrics {
	if !cfg.MetricsOn() {
		return nil
	}
	return metrics.New(metrics.Params{Prefix: cfg.MetricsPrefix, Port: cfg.ServerPort, AppIDs: appIDs(cfg), Version: version})
}

// appIDs are the ids of cfg's apps, the app_id label values of the metrics (a reload sets
// them again: metrics.SetApps).
func appIDs(cfg *config.Config) []string {
	ids := make([]string, 0, len(cfg.Apps))
	for _, app := range cfg.Apps {
		ids = append(ids, app.ID)
	}
	return ids
}

// backlogTimeout bounds reading the queue's backlog at a scrape (a Redis round trip with the
// redis queue).
const backlogTimeout = 2 * time.Second

// registerMetrics adds the families read from the components when the metrics are scraped:
// the queue's backlog, the counters the worker, the socket server, the relay and the lease
// keep themselves.
func (s *server) registerMetrics() {
	m := s.metrics
	if m == nil {
		return
	}
	registerQueueMetrics(m, s.queue, s.worker)
	if s.cluster == nil {
		return
	}
	m.Counter("relay_frames_dropped_total", "Client and member events made on this node not sent to the other nodes because the publish queue was full.", nil,
		func(yield func(float64, ...string)) { yield(float64(s.ws.Stats().PublishesDropped)) })
	registerRelayMetrics(m, s.cluster.relay)
	m.Counter("lease_renewals_total", "Renewals of this node's cluster lease, by result (ok, failed).", []string{"result"},
		func(yield func(float64, ...string)) {
			st := s.cluster.occupancy.LeaseStats()
			yield(float64(st.Renewed), "ok")
			yield(float64(st.Failed), "failed")
		})
}

// registerQueueMetrics adds the families of the delivery queue and its worker, read at each
// scrape: the backlog (with the redis queue, the shared queue's), deliveries lost with a
// worker's process, and cache writes that failed. `reverbd start` and `reverbd worker` both
// export them.
func registerQueueMetrics(m *metrics.Metrics, queue jobs.Queue, worker *jobs.Worker) {
	if m == nil {
		return
	}
	backlog := func() (jobs.Backlog, bool) {
		q, ok := queue.(interface {
			Backlog(context.Context) (jobs.Backlog, error)
		})
		if !ok {
			return jobs.Backlog{}, false
		}
		ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
		defer cancel()
		b, err := q.Backlog(ctx)
		return b, err == nil
	}
	m.Gauge("queue_events", "Events accepted by the HTTP API and not delivered yet (waiting or in delivery); with the redis queue, the shared queue's, as every node sees it.", nil,
		func(yield func(float64, ...string)) {
			if b, ok := backlog(); ok {
				yield(float64(b.Events))
			}
		})
	m.Gauge("queue_oldest_event_age_seconds", "Age of the oldest event not delivered yet (0 when the queue is empty).", nil,
		func(yield func(float64, ...string)) {
			if b, ok := backlog(); ok {
				yield(b.Oldest.Seconds())
			}
		})
	m.Counter("deliveries_lost_total", "Deliveries a worker held when its process died (redis queue), found by this process; never retried.", nil,
		func(yield func(float64, ...string)) { yield(float64(worker.Stats().Lost)) })
	m.Counter("cache_writes_failed_total", "Last events of cache channels that could not be stored (the events were delivered all the same).", nil,
		func(yield func(float64, ...string)) { yield(float64(worker.Stats().CacheFailed)) })
}

// registerRelayMetrics adds the relay's publish counters, read at each scrape: a node's and
// a `reverbd worker`'s, which publishes every event it delivers.
func registerRelayMetrics(m *metrics.Metrics, relay *jobs.RedisRelay) {
	if m == nil {
		return
	}
	m.Counter("relay_published_total", "Messages this process published on the cluster relay (events, frames, terminate requests, probes).", nil,
		func(yield func(float64, ...string)) { yield(float64(relay.Stats().Published)) })
	m.Counter("relay_publish_errors_total", "Messages Redis did not take on the cluster relay; they reached no node.", nil,
		func(yield func(float64, ...string)) { yield(float64(relay.Stats().Failed)) })
}
