package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
	"github.com/reverbd/reverbd/registry/metrics/metricstest"
)

// sample is the value of the app's series of family (a histogram's count), with label (a
// name and a value) when given; 0 if none.
func sample(fams map[string]*dto.MetricFamily, family, appID string, label ...string) float64 {
	return metricstest.Sum(fams, family, append([]string{"app_id", appID}, label...)...)
}

// A stale event counts as stale for its app, a fresh one as delivered with its queue wait,
// and a trigger past REVERB_QUEUE_SIZE as the queue_size limit; the backlog reports what
// waits and since when.
func TestWorkerAndQueueMetrics(t *testing.T) {
	m := metrics.New(metrics.Params{Prefix: "t_", AppIDs: []string{"a"}})
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: newRecorder(), Rules: rules, Metrics: m})
	ctx := context.Background()
	stale := registry.Event{AppID: "a", Channels: []string{"c"}, Name: "e", Data: "d", QueuedAt: time.Now().Add(-2 * time.Minute)}
	if err := w.Process(ctx, stale); !errors.Is(err, jobs.ErrStale) {
		t.Fatalf("stale event: %v", err)
	}
	fresh := stale
	fresh.QueuedAt = time.Now()
	if err := w.Process(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	fams := metricstest.Scrape(t, m.Handler())
	for family, want := range map[string]float64{
		"t_events_stale_total": 1, "t_events_delivered_total": 1, "t_event_queue_seconds": 1,
	} {
		if got := sample(fams, family, "a"); got != want {
			t.Errorf("%s = %v, want %v", family, got, want)
		}
	}

	q := jobs.NewMemoryQueue(w, 2, 2) // not run: what is queued stays
	old := fresh
	old.QueuedAt = time.Now().Add(-5 * time.Second)
	for _, ev := range []registry.Event{old, fresh} {
		if err := q.Enqueue(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Enqueue(ctx, fresh); !errors.Is(err, jobs.ErrQueueFull) {
		t.Fatalf("third event: %v, want ErrQueueFull", err)
	}
	b, err := q.Backlog(ctx)
	if err != nil || b.Events != 2 || b.Oldest < 5*time.Second || b.Oldest > time.Minute {
		t.Errorf("backlog = %+v, %v; want 2 events, the oldest about 5 s old", b, err)
	}
	if got := sample(metricstest.Scrape(t, m.Handler()), "t_limits_hit_total", "a", "limit", "queue_size"); got != 1 {
		t.Errorf("limits_hit_total queue_size = %v, want 1", got)
	}
}
