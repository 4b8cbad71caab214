package jobs

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// MemoryQueue is the in-process Queue, used when no Redis is configured.
//
// Ordering: every channel belongs to one worker (by app and channel name). An event is
// split into one part per worker that owns some of its channels, each part carrying the
// channels of that worker, and the parts of one Enqueue are appended to the workers' FIFOs
// at once, under one lock. So each channel sees its events in the order they were queued,
// at any number of workers, and two events that share two channels reach both in the same
// order. Each part is one Worker.Process: the deadline, the stale-event rule and the
// socket exclusion apply to each.
//
// Capacity: size bounds the events accepted and not yet delivered (queued or in delivery),
// counted once whatever their channels, across all workers: one hot channel may use all of
// it. The FIFOs themselves are unbounded slices; the count keeps them bounded.
type MemoryQueue struct {
	worker *Worker
	size   int64

	// pending counts accepted events whose parts are not all done. It grows only under mu
	// (where it is compared with size) and shrinks without it.
	pending atomic.Int64

	mu     sync.Mutex
	closed bool // guarded by mu; set once by Shutdown
	shards []*shard

	started chan struct{} // closed when Run starts
	done    chan struct{} // closed when every shard worker has returned
	once    sync.Once
}

// shard is one worker's FIFO.
type shard struct {
	parts []part        // guarded by MemoryQueue.mu
	wake  chan struct{} // capacity 1: parts were added, or the queue closed
	// delivering is the QueuedAt (Unix nanoseconds) of the part the worker is delivering, 0
	// when none: the shard's oldest event (see Backlog).
	delivering atomic.Int64
}

// part is the share of one event a shard delivers.
type part struct {
	ev registry.Event // Channels holds only this shard's channels
	// left counts the parts of a split event not yet done; nil for an event in one part.
	left *atomic.Int32
}

// keepCapacity is the largest FIFO backing array a worker keeps once it is drained, so an
// idle queue gives back the memory of a burst.
const keepCapacity = 1024

// NewMemoryQueue returns a queue with workers goroutines (at least 1) holding up to size
// events (at least 1) in all.
func NewMemoryQueue(w *Worker, workers, size int) *MemoryQueue {
	q := &MemoryQueue{worker: w, size: int64(max(size, 1)), started: make(chan struct{}), done: make(chan struct{})}
	for range max(workers, 1) {
		q.shards = append(q.shards, &shard{wake: make(chan struct{}, 1)})
	}
	return q
}

// Enqueue implements Queue; it fails with ErrQueueFull instead of waiting. The queue keeps
// ev.Channels, which the caller must not modify afterwards.
func (q *MemoryQueue) Enqueue(_ context.Context, ev registry.Event) error {
	var buf [4]shardPart
	parts := q.split(ev, buf[:0])
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrQueueClosed
	}
	if q.pending.Load() >= q.size {
		q.mu.Unlock()
		q.worker.metrics.App(ev.AppID).LimitHit(metrics.LimitQueueFull)
		return ErrQueueFull
	}
	q.pending.Add(1)
	for _, p := range parts {
		s := q.shards[p.shard]
		s.parts = append(s.parts, p.part)
	}
	q.mu.Unlock()
	for _, p := range parts {
		q.shards[p.shard].signal()
	}
	return nil
}

// shardPart is a part and the shard it goes to.
type shardPart struct {
	shard int
	part  part
}

// split appends to dst one part of ev per shard owning some of its channels, each keeping
// the channels' order. An event whose channels all belong to one shard stays whole.
func (q *MemoryQueue) split(ev registry.Event, dst []shardPart) []shardPart {
	if len(q.shards) == 1 || len(ev.Channels) <= 1 {
		ch := ""
		if len(ev.Channels) == 1 {
			ch = ev.Channels[0]
		}
		return append(dst, shardPart{shard: q.shardOf(ev.AppID, ch), part: part{ev: ev}})
	}
	var buf [16]int
	owners := buf[:0] // the shard of each channel
	var order []int   // shards in the order their first channel appears
	for _, ch := range ev.Channels {
		s := q.shardOf(ev.AppID, ch)
		owners = append(owners, s)
		if !slices.Contains(order, s) {
			order = append(order, s)
		}
	}
	if len(order) == 1 {
		return append(dst, shardPart{shard: order[0], part: part{ev: ev}})
	}
	left := new(atomic.Int32)
	left.Store(int32(len(order)))
	grouped := make([]string, 0, len(ev.Channels)) // every part's channels, one after another
	for _, s := range order {
		start := len(grouped)
		for j, ch := range ev.Channels {
			if owners[j] == s {
				grouped = append(grouped, ch)
			}
		}
		p := ev
		p.Channels = grouped[start:len(grouped):len(grouped)]
		dst = append(dst, shardPart{shard: s, part: part{ev: p, left: left}})
	}
	return dst
}

// shardOf maps an app's channel to a shard: FNV-1a over the app id, a separator and the
// channel name.
func (q *MemoryQueue) shardOf(appID, channel string) int {
	if len(q.shards) == 1 {
		return 0
	}
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(appID); i++ {
		h = (h ^ uint32(appID[i])) * prime
	}
	h *= prime // a 0 byte: "ab"+"c" and "a"+"bc" hash apart
	for i := 0; i < len(channel); i++ {
		h = (h ^ uint32(channel[i])) * prime
	}
	return int(h % uint32(len(q.shards)))
}

// signal wakes the shard's worker; a wake-up already pending is enough.
func (s *shard) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run implements Queue: one goroutine per shard, each delivering its FIFO in order. When
// ctx ends before Shutdown, queued events are left undelivered.
func (q *MemoryQueue) Run(ctx context.Context) error {
	q.once.Do(func() { close(q.started) })
	var wg sync.WaitGroup
	for _, s := range q.shards {
		wg.Go(func() { q.drain(ctx, s) })
	}
	wg.Wait()
	close(q.done)
	return nil
}

// drain delivers s's parts in order until ctx ends, or until the queue is closed and s is
// empty. It takes the whole FIFO at once and swaps in the previous (emptied) batch, so the
// lock is held only for the swap.
func (q *MemoryQueue) drain(ctx context.Context, s *shard) {
	var batch []part
	for {
		q.mu.Lock()
		batch, s.parts = s.parts, batch
		closed := q.closed
		q.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			}
			continue
		}
		for i := range batch {
			if ctx.Err() != nil {
				return
			}
			s.delivering.Store(batch[i].ev.QueuedAt.UnixNano())
			_ = q.worker.Process(ctx, batch[i].ev) // ErrStale is counted by the worker; no retry
			s.delivering.Store(0)
			q.finish(&batch[i])
			batch[i] = part{} // drop the event's references
		}
		if cap(batch) > keepCapacity {
			batch = nil
		} else {
			batch = batch[:0]
		}
	}
}

// finish records that p is done; the event's place is freed with its last part.
func (q *MemoryQueue) finish(p *part) {
	if p.left == nil || p.left.Add(-1) == 0 {
		q.pending.Add(-1)
	}
}

// Shutdown implements Queue: Enqueue fails from now on, and Run delivers what is queued
// (stale events are dropped as usual) and returns.
func (q *MemoryQueue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	for _, s := range q.shards {
		s.signal()
	}
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

// Backlog reports the events accepted and not delivered yet (waiting, or in delivery) and
// the age of the oldest: the one a worker is delivering, or else the first waiting, of the
// shard whose is oldest. Events a worker took in its batch and has not reached yet are
// younger than the one it delivers, so they never are the oldest.
func (q *MemoryQueue) Backlog(context.Context) (Backlog, error) {
	b := Backlog{Events: int(max(q.pending.Load(), 0))}
	var oldest int64
	q.mu.Lock()
	for _, s := range q.shards {
		at := s.delivering.Load()
		if at == 0 && len(s.parts) > 0 {
			at = s.parts[0].ev.QueuedAt.UnixNano()
		}
		if at != 0 && (oldest == 0 || at < oldest) {
			oldest = at
		}
	}
	q.mu.Unlock()
	if oldest != 0 {
		b.Oldest = max(time.Since(time.Unix(0, oldest)), 0)
	}
	return b, nil
}
