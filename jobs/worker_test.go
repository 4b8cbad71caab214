package jobs_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/redistest"
)

// An event on a cache channel reaches the subscribers even when its last-event copy cannot be
// stored (the cache's Redis is down); the failure is counted and logged.
func TestWorkerDeliversWhenTheCacheFails(t *testing.T) {
	srv := redistest.StartServer(t)
	cache := registry.NewRedisCache(srv.Client(), redistest.Name(t))
	srv.Stop()

	var logs bytes.Buffer
	rec := newRecorder()
	w := jobs.NewWorker(jobs.WorkerParams{
		Deliverer: rec, Cache: cache, CacheTTL: time.Minute, Rules: rules,
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	q := jobs.NewMemoryQueue(w, 1, 16)
	run(t, q)
	ev := registry.Event{AppID: "1", Channels: []string{"cache-prices", "orders"}, Name: "price", Data: `{"p":1}`, QueuedAt: time.Now()}
	if err := q.Enqueue(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got := rec.wait(t, 1); got[0].Name != "price" || got[0].Data != `{"p":1}` {
		t.Errorf("delivered %+v", got[0])
	}
	if s := w.Stats(); s.Delivered != 1 || s.CacheFailed != 1 {
		t.Errorf("stats %+v, want 1 delivered and 1 cache failure", s)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "channel=cache-prices") {
		t.Errorf("no warning naming the channel: %s", logs.String())
	}
}
