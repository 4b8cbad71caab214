package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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

// channelLog is a Deliverer that keeps, per channel, the names of the events delivered on it,
// in delivery order: what that channel's subscribers see (ws.Hub writes one frame per channel
// of the event).
type channelLog struct {
	mu     sync.Mutex
	byChan map[string][]string
	total  int
	got    chan struct{}
}

func newChannelLog() *channelLog {
	return &channelLog{byChan: map[string][]string{}, got: make(chan struct{}, 1)}
}

func (l *channelLog) Deliver(_ context.Context, ev registry.Event) {
	l.mu.Lock()
	for _, ch := range ev.Channels {
		l.byChan[ch] = append(l.byChan[ch], ev.Name)
		l.total++
	}
	l.mu.Unlock()
	select {
	case l.got <- struct{}{}:
	default:
	}
}

// wait returns the log once n channel deliveries were made.
func (l *channelLog) wait(t *testing.T, n int) map[string][]string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		total := l.total
		l.mu.Unlock()
		if total >= n {
			break
		}
		select {
		case <-l.got:
		case <-deadline:
			t.Fatalf("timed out: %d of %d channel deliveries", total, n)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total != n {
		t.Fatalf("%d channel deliveries, want %d", l.total, n)
	}
	return maps.Clone(l.byChan)
}

// Triggers on overlapping channel sets, as Laravel's broadcastOn() returns them, from several
// goroutines at once: each channel sees each producer's events in trigger order, and two
// events that share two channels reach both in the same order.
func TestMemoryQueueOrdersOverlappingChannels(t *testing.T) {
	const producers, perProducer = 4, 400
	sets := [][]string{{"private-a"}, {"private-a", "private-b"}, {"private-b", "private-c"}, {"private-c"}, {"private-c", "private-a", "private-b"}}
	log := newChannelLog()
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: log, Rules: rules})
	q := jobs.NewMemoryQueue(w, 4, producers*perProducer)
	run(t, q)

	want := 0
	for i := range perProducer {
		want += len(sets[i%len(sets)])
	}
	want *= producers
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				ev := registry.Event{AppID: "1", Channels: sets[i%len(sets)], Name: fmt.Sprintf("%d-%05d", p, i), Data: "{}", QueuedAt: time.Now()}
				if err := q.Enqueue(context.Background(), ev); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := log.wait(t, want)

	for ch, names := range got {
		last := map[string]string{} // producer → its last event name seen on ch
		for _, name := range names {
			p := name[:strings.IndexByte(name, '-')]
			if prev, ok := last[p]; ok && name <= prev {
				t.Fatalf("%s: %s delivered after %s: trigger order lost", ch, name, prev)
			}
			last[p] = name
		}
	}
	for x, xs := range got {
		pos := make(map[string]int, len(xs))
		for i, name := range xs {
			pos[name] = i
		}
		for y, ys := range got {
			prev := -1
			for _, name := range ys {
				i, ok := pos[name]
				if !ok {
					continue
				}
				if i < prev {
					t.Fatalf("%s and %s see the events they share in different orders (%s)", x, y, name)
				}
				prev = i
			}
		}
	}
}

// One hot channel may fill the whole queue: REVERB_QUEUE_SIZE bounds every event waiting or
// in delivery, whatever its channels, not a share per worker.
func TestMemoryQueueHotChannelUsesWholeQueue(t *testing.T) {
	const size = 100
	log := newChannelLog()
	block := make(chan struct{})
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: gate{block, log}, Rules: rules})
	q := jobs.NewMemoryQueue(w, 4, size)
	run(t, q)
	var open sync.Once
	release := func() { open.Do(func() { close(block) }) }
	t.Cleanup(release) // runs before run's cleanup, so a failed test does not hang
	hot := registry.Event{AppID: "1", Channels: []string{"private-hot"}, Name: "tick", Data: "{}", QueuedAt: time.Now()}
	for i := range size - 1 {
		if err := q.Enqueue(context.Background(), hot); err != nil {
			t.Fatalf("hot event %d of %d: %v", i+1, size, err)
		}
	}
	// An event on five channels takes one place, whatever workers its channels land on.
	multi := registry.Event{AppID: "1", Channels: []string{"a", "b", "c", "d", "e"}, Name: "multi", Data: "{}", QueuedAt: time.Now()}
	if err := q.Enqueue(context.Background(), multi); err != nil {
		t.Fatalf("the last place: %v", err)
	}
	for _, ev := range []registry.Event{hot, {AppID: "1", Channels: []string{"cold"}, Name: "cold", Data: "{}", QueuedAt: time.Now()}} {
		if err := q.Enqueue(context.Background(), ev); !errors.Is(err, jobs.ErrQueueFull) {
			t.Fatalf("Enqueue past REVERB_QUEUE_SIZE on %v = %v, want ErrQueueFull", ev.Channels, err)
		}
	}
	release()
	log.wait(t, size-1+5)
	// Delivered events free their places.
	waitFor(t, func() bool { return q.Enqueue(context.Background(), hot) == nil })
}

// An event on several channels reaches each channel once, with its socket exclusion, and
// the deadline applies to every part of it.
func TestMemoryQueueSplitsMultiChannelEvents(t *testing.T) {
	log := newChannelLog()
	rec := newRecorder()
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: tee{log, rec}, Rules: rules})
	q := jobs.NewMemoryQueue(w, 4, 16)
	run(t, q)
	channels := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	stale := registry.Event{AppID: "1", Channels: channels, Name: "stale", Data: "{}", QueuedAt: time.Now().Add(-2 * time.Minute)}
	fresh := registry.Event{AppID: "1", Channels: channels, Name: "fresh", Data: `{"x":1}`, SocketID: "1.2", QueuedAt: time.Now()}
	for _, ev := range []registry.Event{stale, fresh} {
		if err := q.Enqueue(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	got := log.wait(t, len(channels))
	for _, ch := range channels {
		if !slices.Equal(got[ch], []string{"fresh"}) {
			t.Fatalf("%s received %v, want the fresh event once", ch, got[ch])
		}
	}
	for _, ev := range rec.wait(t, 1) {
		if ev.SocketID != "1.2" || ev.Data != `{"x":1}` || ev.Name != "fresh" {
			t.Fatalf("delivered %+v, want the fresh event with its socket_id", ev)
		}
	}
	waitFor(t, func() bool { return w.Stats().Stale >= 1 })
}

// tee hands every delivery to both Deliverers.
type tee struct{ a, b jobs.Deliverer }

func (t tee) Deliver(ctx context.Context, ev registry.Event) {
	t.a.Deliver(ctx, ev)
	t.b.Deliver(ctx, ev)
}
