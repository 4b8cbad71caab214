package jobs

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// ErrStale is returned for an event whose delivery deadline passed before a worker reached it.
// Such an event is discarded and counted, never delivered late and never retried.
var ErrStale = errors.New("jobs: event is past its delivery deadline")

// Deliverer hands an event to the subscribers it can reach (ws.Hub on one node, the relay to
// every node in a cluster). Deliver must not block on any one socket.
type Deliverer interface {
	Deliver(ctx context.Context, ev registry.Event)
}

// Rules are the delivery rules every queue backend applies: one try, a timeout per delivery,
// and a deadline counted from the moment the event was queued.
type Rules struct {
	// Timeout bounds one delivery (default 30 s).
	Timeout time.Duration
	// Deadline is how long after QueuedAt an event may still be delivered (default 60 s).
	Deadline time.Duration
}

// Worker runs one delivery: it drops stale events, stores the last event of cache channels,
// then hands the event to the Deliverer. It is shared by every queue backend and safe for
// concurrent use.
type Worker struct {
	deliverer Deliverer
	cache     registry.Cache
	cacheTTL  time.Duration
	rules     Rules
	log       *slog.Logger
	now       func() time.Time
	metrics   *metrics.Metrics

	delivered   atomic.Uint64
	stale       atomic.Uint64
	cacheFailed atomic.Uint64
	lost        atomic.Uint64
}

// WorkerParams configures a Worker.
type WorkerParams struct {
	Deliverer Deliverer
	Cache     registry.Cache
	CacheTTL  time.Duration
	Rules     Rules
	Log       *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics counts deliveries, stale events and the queue wait; nil counts nothing.
	Metrics *metrics.Metrics
}

// NewWorker returns a Worker.
func NewWorker(p WorkerParams) *Worker {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	return &Worker{
		deliverer: p.Deliverer, cache: p.Cache, cacheTTL: p.CacheTTL,
		rules: p.Rules, log: p.Log, now: p.Now, metrics: p.Metrics,
	}
}

// Stats counts what the worker did since it started.
type Stats struct {
	// Delivered counts Deliver calls and Stale the deliveries discarded past their deadline.
	// Both count events, except that the memory queue delivers an event whose channels
	// belong to several of its workers in one part per worker, each counted.
	Delivered uint64
	Stale     uint64
	// CacheFailed counts last events of cache channels that could not be stored; each of
	// those events was delivered all the same.
	CacheFailed uint64
	// Lost counts the deliveries that a worker held when its process died (redis queue),
	// found by this process: one try is the rule, so they were not retried (a worker that
	// died just after making one cannot be told apart, and is counted too).
	Lost uint64
}

// Stats returns the counters.
func (w *Worker) Stats() Stats {
	return Stats{Delivered: w.delivered.Load(), Stale: w.stale.Load(), CacheFailed: w.cacheFailed.Load(), Lost: w.lost.Load()}
}

// CountLost counts n deliveries that a queue backend found lost with a worker's process.
func (w *Worker) CountLost(n int) { w.lost.Add(uint64(n)) }

// Expired reports whether ev is past its delivery deadline.
func (w *Worker) Expired(ev *registry.Event) bool {
	return !w.now().Before(ev.QueuedAt.Add(w.rules.Deadline))
}

// CountStale counts an event that a queue backend discarded before calling Process.
func (w *Worker) CountStale(ev *registry.Event) {
	w.stale.Add(1)
	w.metrics.App(ev.AppID).Stale()
	w.log.Debug("stale event discarded", "app_id", ev.AppID, "event", ev.Name,
		"age", w.now().Sub(ev.QueuedAt))
}

// Process delivers ev once. It returns ErrStale, without delivering, when ev is past its
// deadline; the caller must not retry on any error. The last event of each cache channel is
// stored first, so a subscriber arriving after the delivery gets it; a failure to store it
// is counted and logged, and never keeps the event from the subscribers.
func (w *Worker) Process(ctx context.Context, ev registry.Event) error {
	if w.Expired(&ev) {
		w.CountStale(&ev)
		return ErrStale
	}
	stats := w.metrics.App(ev.AppID)
	stats.Dequeued(w.now().Sub(ev.QueuedAt))
	// One context for both bounds: the timeout (on the real clock, as context.WithTimeout)
	// and the event's deadline, whichever comes first.
	end := ev.QueuedAt.Add(w.rules.Deadline)
	if t := time.Now().Add(w.rules.Timeout); t.Before(end) {
		end = t
	}
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	if w.cache != nil {
		for _, ch := range ev.Channels {
			if !registry.KindOf(ch).IsCache() {
				continue
			}
			if err := w.cache.Put(ctx, ev.AppID, ch, registry.CachedEvent{Event: ev.Name, Data: ev.Data, QueuedAt: ev.QueuedAt}, w.cacheTTL); err != nil {
				w.cacheFailed.Add(1)
				w.log.Warn("cache channel's last event not stored; delivered all the same",
					"app_id", ev.AppID, "channel", ch, "event", ev.Name, "err", err)
			}
		}
	}
	w.delivered.Add(1) // counted first, so a deliverer that saw the event also sees the count
	stats.Delivered()
	w.deliverer.Deliver(ctx, ev)
	return nil
}
