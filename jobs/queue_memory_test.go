package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
)

// recorder is a Deliverer that keeps what it was given.
type recorder struct {
	mu     sync.Mutex
	events []registry.Event
	got    chan struct{}
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 1<<16)} }

func (r *recorder) Deliver(_ context.Context, ev registry.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	r.got <- struct{}{}
}

func (r *recorder) wait(t *testing.T, n int) []registry.Event {
	t.Helper()
	for range n {
		select {
		case <-r.got:
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out waiting for %d deliveries", n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]registry.Event(nil), r.events...)
}

var rules = jobs.Rules{Timeout: 30 * time.Second, Deadline: 60 * time.Second}

func run(t *testing.T, q jobs.Queue) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestMemoryQueueKeepsChannelOrder(t *testing.T) {
	rec := newRecorder()
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: rec, Rules: rules})
	q := jobs.NewMemoryQueue(w, 4, 1024)
	run(t, q)
	names := []string{"order.paid", "order.shipped", "order.refunded"}
	for range 50 {
		for _, n := range names {
			ev := registry.Event{AppID: "1", Channels: []string{"private-tenant.1"}, Name: n, Data: "{}", QueuedAt: time.Now()}
			if err := q.Enqueue(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := rec.wait(t, 150)
	for i, ev := range got {
		if ev.Name != names[i%3] {
			t.Fatalf("delivery %d is %s, want %s: order lost", i, ev.Name, names[i%3])
		}
	}
	if s := w.Stats(); s.Delivered != 150 || s.Stale != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestStaleEventsAreDiscarded(t *testing.T) {
	now := time.Unix(10_000, 0)
	rec := newRecorder()
	cache := registry.NewMemoryCache()
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: rec, Cache: cache, CacheTTL: time.Minute, Rules: rules,
		Now: func() time.Time { return now }})
	stale := registry.Event{AppID: "1", Channels: []string{"cache-x"}, Name: "old", Data: "1", QueuedAt: now.Add(-60 * time.Second)}
	if err := w.Process(context.Background(), stale); !errors.Is(err, jobs.ErrStale) {
		t.Fatalf("Process(stale) = %v, want ErrStale", err)
	}
	fresh := registry.Event{AppID: "1", Channels: []string{"cache-x"}, Name: "new", Data: "2", QueuedAt: now.Add(-59 * time.Second)}
	if err := w.Process(context.Background(), fresh); err != nil {
		t.Fatal(err)
	}
	got := rec.wait(t, 1)
	if len(got) != 1 || got[0].Name != "new" {
		t.Errorf("delivered %+v, want only the fresh event", got)
	}
	if s := w.Stats(); s.Stale != 1 || s.Delivered != 1 {
		t.Errorf("stats = %+v", s)
	}
	if ev, ok, _ := cache.Get(context.Background(), "1", "cache-x"); !ok || ev.Data != "2" {
		t.Errorf("cache = %+v %v, want the fresh event only", ev, ok)
	}
}

func TestMemoryQueueFullAndClosed(t *testing.T) {
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: newRecorder(), Rules: rules})
	q := jobs.NewMemoryQueue(w, 1, 2) // never run: nothing drains it
	ev := registry.Event{AppID: "1", Channels: []string{"a"}, Name: "e", Data: "{}", QueuedAt: time.Now()}
	for range 2 {
		if err := q.Enqueue(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Enqueue(context.Background(), ev); !errors.Is(err, jobs.ErrQueueFull) {
		t.Errorf("third Enqueue = %v, want ErrQueueFull", err)
	}
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(context.Background(), ev); !errors.Is(err, jobs.ErrQueueClosed) {
		t.Errorf("Enqueue after Shutdown = %v, want ErrQueueClosed", err)
	}
}

func TestShutdownDeliversWhatIsQueued(t *testing.T) {
	rec := newRecorder()
	block := make(chan struct{})
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: gate{block, rec}, Rules: rules})
	q := jobs.NewMemoryQueue(w, 1, 100)
	run(t, q)
	for i := range 10 {
		ev := registry.Event{AppID: "1", Channels: []string{"a"}, Name: string(rune('a' + i)), Data: "{}", QueuedAt: time.Now()}
		if err := q.Enqueue(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- q.Shutdown(context.Background()) }()
	close(block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := rec.wait(t, 10); len(got) != 10 {
		t.Errorf("delivered %d of 10 queued events", len(got))
	}
}

// gate holds deliveries until block is closed.
type gate struct {
	block chan struct{}
	next  jobs.Deliverer
}

func (g gate) Deliver(ctx context.Context, ev registry.Event) {
	<-g.block
	g.next.Deliver(ctx, ev)
}
