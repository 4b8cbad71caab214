package jobs

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reverbd/reverbd/registry/metrics"
)

// webhookIDMargin is how long past its budget a delivery's ID stays taken, so a batch handed
// out again after that long would be sent again. A feed hands a batch out again within
// seconds (its lease), far below it.
const webhookIDMargin = time.Hour

// MemoryWebhookQueue runs webhook deliveries in this process (without Redis): one goroutine
// per delivery, at most Concurrency POSTs at once, its retries on timers. Deliveries waiting
// for a retry when the process stops are lost.
type MemoryWebhookQueue struct {
	poster    *webhookPoster
	sem       chan struct{} // a slot per POST in flight
	retention time.Duration // RetryFor + webhookIDMargin
	log       *slog.Logger

	mu     sync.Mutex
	seen   map[string]time.Time // guarded by mu: delivery ID → when it may be forgotten
	closed bool                 // guarded by mu: Shutdown began
	wg     sync.WaitGroup       // the deliveries' goroutines; Add under mu

	stopping  chan struct{}      // closed by Shutdown: waits for a retry or a slot end
	ctx       context.Context    // the POSTs' context, cancelled when Shutdown gives up
	cancel    context.CancelFunc // cancels ctx
	abandoned atomic.Int64       // deliveries given up because the queue stopped
	live      atomic.Int64       // deliveries not ended yet
}

// MemoryWebhookParams configures a MemoryWebhookQueue.
type MemoryWebhookParams struct {
	Rules WebhookRules
	// Concurrency is the most POSTs at once; zero means 8.
	Concurrency int
	// Metrics counts the POSTs; nil counts nothing.
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Now is the clock of the budget; nil means time.Now.
	Now func() time.Time
}

// NewMemoryWebhookQueue returns a queue that starts each delivery as it is enqueued.
func NewMemoryWebhookQueue(p MemoryWebhookParams) *MemoryWebhookQueue {
	if p.Concurrency <= 0 {
		p.Concurrency = 8
	}
	poster := newWebhookPoster(p.Rules, p.Metrics, p.Log, p.Now)
	ctx, cancel := context.WithCancel(context.Background())
	return &MemoryWebhookQueue{
		poster:    poster,
		sem:       make(chan struct{}, p.Concurrency),
		retention: poster.rules.RetryFor + webhookIDMargin,
		log:       poster.log,
		seen:      map[string]time.Time{},
		stopping:  make(chan struct{}),
		ctx:       ctx, cancel: cancel,
	}
}

// Enqueue implements WebhookQueue: d starts at once, unless its ID was taken already.
func (q *MemoryWebhookQueue) Enqueue(_ context.Context, d WebhookDelivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrQueueClosed
	}
	if _, dup := q.seen[d.ID]; dup {
		return nil
	}
	q.seen[d.ID] = q.poster.now().Add(q.retention)
	q.live.Add(1)
	q.wg.Go(func() {
		defer q.live.Add(-1)
		q.deliver(d)
	})
	return nil
}

// Deliveries reports the deliveries not ended yet: POSTs in flight, waiting for a slot or
// for a retry.
func (q *MemoryWebhookQueue) Deliveries() int { return int(q.live.Load()) }

// deliver tries d until it is done, dropped or the queue stops.
func (q *MemoryWebhookQueue) deliver(d WebhookDelivery) {
	for retried := 0; ; retried++ {
		select {
		case q.sem <- struct{}{}:
		case <-q.stopping:
			q.abandon(&d)
			return
		}
		step, _ := q.poster.try(q.ctx, &d, retried)
		<-q.sem
		if step != stepRetry {
			return
		}
		t := time.NewTimer(q.poster.rules.backoff(d.ID, retried))
		select {
		case <-t.C:
		case <-q.stopping:
			t.Stop()
			q.abandon(&d)
			return
		}
	}
}

func (q *MemoryWebhookQueue) abandon(d *WebhookDelivery) {
	q.abandoned.Add(1)
	q.poster.metrics.App(d.AppID).WebhookDropped(metrics.WebhookDroppedShutdown)
}

// forgetInterval is how often Run forgets the IDs past their retention.
const forgetInterval = time.Minute

// Run implements WebhookQueue: deliveries run from Enqueue on; Run forgets old IDs until
// ctx ends.
func (q *MemoryWebhookQueue) Run(ctx context.Context) error {
	t := time.NewTicker(forgetInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			q.forget()
		}
	}
}

// forget drops the IDs past their retention.
func (q *MemoryWebhookQueue) forget() {
	now := q.poster.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	for id, until := range q.seen {
		if now.After(until) {
			delete(q.seen, id)
		}
	}
}

// Shutdown implements WebhookQueue: Enqueue refuses from now on, deliveries waiting for a
// retry are given up, and POSTs in flight may finish until ctx ends; then they are
// cancelled. It logs how many deliveries were given up.
func (q *MemoryWebhookQueue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.stopping)
	}
	q.mu.Unlock()
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		q.cancel()
		<-done
	}
	q.cancel()
	if n := q.abandoned.Swap(0); n > 0 {
		q.log.Warn("webhook deliveries given up at stop (the in-process queue keeps nothing)", "count", n)
	}
	return nil
}
