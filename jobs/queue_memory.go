package jobs

import (
	"context"
	"hash/fnv"
	"sync"

	"github.com/reverbd/reverbd/registry"
)

// MemoryQueue is the in-process Queue, used when no Redis is configured. Events are
// sharded over its workers by app and first channel, so events triggered one after another
// on a channel are delivered in that order.
type MemoryQueue struct {
	worker *Worker

	mu     sync.RWMutex
	closed bool                   // guarded by mu; set once by Shutdown
	shards []chan *registry.Event // closed by Shutdown under mu; pointers keep an idle queue small

	started chan struct{} // closed when Run starts
	done    chan struct{} // closed when every shard worker has returned
	once    sync.Once
}

// NewMemoryQueue returns a queue with workers goroutines (at least 1) holding up to size
// events in all.
func NewMemoryQueue(w *Worker, workers, size int) *MemoryQueue {
	if workers < 1 {
		workers = 1
	}
	per := max(size/workers, 1)
	q := &MemoryQueue{worker: w, started: make(chan struct{}), done: make(chan struct{})}
	for range workers {
		q.shards = append(q.shards, make(chan *registry.Event, per))
	}
	return q
}

// Enqueue implements Queue; it fails with ErrQueueFull instead of waiting.
func (q *MemoryQueue) Enqueue(_ context.Context, ev registry.Event) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrQueueClosed
	}
	select {
	case q.shards[q.shardOf(&ev)] <- &ev:
		return nil
	default:
		return ErrQueueFull
	}
}

func (q *MemoryQueue) shardOf(ev *registry.Event) int {
	if len(q.shards) == 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(ev.AppID))
	if len(ev.Channels) > 0 {
		h.Write([]byte(ev.Channels[0]))
	}
	return int(h.Sum32() % uint32(len(q.shards)))
}

// Run implements Queue. When ctx ends before Shutdown, queued events are left undelivered.
func (q *MemoryQueue) Run(ctx context.Context) error {
	q.once.Do(func() { close(q.started) })
	var wg sync.WaitGroup
	for _, shard := range q.shards {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-shard:
					if !ok {
						return
					}
					_ = q.worker.Process(ctx, *ev) // ErrStale is counted by the worker; no retry
				}
			}
		})
	}
	wg.Wait()
	close(q.done)
	return nil
}

// Shutdown implements Queue: Enqueue fails from now on, and Run delivers what is queued
// (stale events are dropped as usual) and returns.
func (q *MemoryQueue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		for _, s := range q.shards {
			close(s)
		}
	}
	q.mu.Unlock()
	select {
	case <-q.started:
	default:
		return nil // Run never started: nothing is draining
	}
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
