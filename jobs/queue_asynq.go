package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/registry"
)

// TaskBroadcast is the asynq task type of one accepted trigger.
const TaskBroadcast = "reverbd:broadcast"

// enqueueTimeout bounds the Redis round trip of one Enqueue, so a trigger is answered 503
// quickly while Redis is unreachable instead of waiting for go-redis's dial timeout.
const enqueueTimeout = 2 * time.Second

// archiveSweepInterval is how often archived broadcast tasks are deleted (see AsynqQueue).
const archiveSweepInterval = 5 * time.Second

// AsynqQueue is the Queue on Redis through asynq (REVERB_QUEUE_CONNECTION=redis). Each event
// becomes one task with MaxRetry(0), Timeout(Rules.Timeout) and Deadline(QueuedAt +
// Rules.Deadline), so queued work survives a restart and is visible in asynq's web UI.
//
// Failed and expired tasks: a task whose deadline passes while it waits is never handed to a
// handler; asynq calls the error handler (which counts it as stale) and archives it. A stale
// broadcast has no value to anyone, so the queue deletes its archived tasks every
// archiveSweepInterval: Redis memory stays bounded however many events expire. A task the
// handler itself finds stale is revoked (deleted at once, never archived). Successful tasks
// are deleted at once (no retention).
//
// Lost tasks: a task whose worker's process dies while holding it stays active until asynq
// archives it, one to two minutes later (30 s after its lease expired, on the recoverer's
// next one-minute round); one try is the rule, so it is not retried. Run finds such a task
// within DefaultLostAfter (see checkLost) and counts it in the worker's Stats as lost, with
// a warning; the archive sweep reports those it did not find.
type AsynqQueue struct {
	worker    *Worker
	rules     Rules
	queue     string
	log       *slog.Logger
	client    *asynq.Client
	inspector *asynq.Inspector
	rdb       redis.UniversalClient

	closed  atomic.Bool // set by Shutdown: Enqueue refuses
	healthy atomic.Bool // Redis answered the last health check

	enqueueOnly bool
	drain       bool // see AsynqParams.DrainOnShutdown
	lostAfter   time.Duration
	lost        lostWatch // owned by Run's goroutine

	srv asynqServer // the workers
}

// AsynqParams configures an AsynqQueue.
type AsynqParams struct {
	// Redis is the client every asynq part shares; the caller closes it after Shutdown.
	Redis  redis.UniversalClient
	Worker *Worker
	Rules  Rules
	// Queue is the asynq queue name (REVERB_QUEUE_NAME).
	Queue string
	// Concurrency is the number of tasks run at once; 1 keeps each channel's order.
	Concurrency int
	// PollInterval is asynq's TaskCheckInterval: how often an idle worker polls Redis.
	PollInterval time.Duration
	// ShutdownTimeout is how long Shutdown lets running tasks finish before asynq puts them
	// back in the queue; zero means 8 s.
	ShutdownTimeout time.Duration
	// EnqueueOnly leaves the tasks to workers in other processes (`reverbd worker`): Run
	// checks Redis and sweeps the archive but runs no handler.
	EnqueueOnly bool
	// DrainOnShutdown makes Shutdown deliver the queue's pending tasks before it stops the
	// workers, as the memory queue does, so a trigger accepted before a stop reaches the
	// clients still connected. Set it when no other process runs workers on the queue
	// (scaling off): otherwise they deliver what is left, and the queue may never be empty.
	DrainOnShutdown bool
	// LostAfter is how long a task may stay active while no live asynq server lists it
	// before it counts as lost; zero means DefaultLostAfter.
	LostAfter time.Duration
	Log       *slog.Logger
}

// NewAsynqQueue returns a queue on p.Redis. It does not contact Redis.
func NewAsynqQueue(p AsynqParams) *AsynqQueue {
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.ShutdownTimeout <= 0 {
		p.ShutdownTimeout = 8 * time.Second
	}
	if p.LostAfter <= 0 {
		p.LostAfter = DefaultLostAfter
	}
	q := &AsynqQueue{
		worker: p.Worker, rules: p.Rules, queue: p.Queue, log: p.Log, rdb: p.Redis, enqueueOnly: p.EnqueueOnly,
		drain:     p.DrainOnShutdown,
		client:    asynq.NewClientFromRedisClient(p.Redis),
		inspector: asynq.NewInspectorFromRedisClient(p.Redis),
		lostAfter: p.LostAfter,
		lost:      lostWatch{unlisted: map[string]time.Time{}, reported: map[string]bool{}},
	}
	q.srv.server = asynq.NewServerFromRedisClient(p.Redis, asynq.Config{
		Concurrency:       max(p.Concurrency, 1),
		Queues:            map[string]int{p.Queue: 1},
		TaskCheckInterval: p.PollInterval,
		ShutdownTimeout:   p.ShutdownTimeout,
		ErrorHandler:      asynq.ErrorHandlerFunc(q.taskFailed),
		Logger:            asynqLogger{p.Log.With("library", "asynq")}, // p.Log names the component
		LogLevel:          asynq.WarnLevel,
	})
	return q
}

// Enqueue implements Queue: one Redis round trip; it fails when Redis does not answer
// within a short timeout.
func (q *AsynqQueue) Enqueue(ctx context.Context, ev registry.Event) error {
	if q.closed.Load() {
		return ErrQueueClosed
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, enqueueTimeout)
	defer cancel()
	_, err = q.client.EnqueueContext(ctx, asynq.NewTask(TaskBroadcast, payload),
		asynq.Queue(q.queue),
		asynq.MaxRetry(0),
		asynq.Timeout(q.rules.Timeout),
		asynq.Deadline(ev.QueuedAt.Add(q.rules.Deadline)))
	if err != nil {
		return fmt.Errorf("enqueue on redis: %w", err)
	}
	return nil
}

// Run implements Queue: it starts the asynq workers, checks Redis and looks for lost tasks
// every second and sweeps the archive, until ctx ends.
func (q *AsynqQueue) Run(ctx context.Context) error {
	q.healthy.Store(q.rdb.Ping(ctx).Err() == nil)
	if ok, err := q.srv.start(asynq.HandlerFunc(q.process), q.enqueueOnly); err != nil {
		return fmt.Errorf("start asynq: %w", err)
	} else if !ok {
		return nil // Shutdown came first
	}
	health := time.NewTicker(time.Second)
	defer health.Stop()
	sweep := time.NewTicker(archiveSweepInterval)
	defer sweep.Stop()
	lost := time.NewTicker(lostCheckInterval)
	defer lost.Stop()
	for {
		select {
		case <-ctx.Done():
			q.srv.stop()
			return nil
		case <-health.C:
			q.checkHealth(ctx)
		case <-lost.C:
			q.checkLost(ctx)
		case <-sweep.C:
			q.SweepArchive()
		}
	}
}

// Shutdown implements Queue: Enqueue refuses from now on; with DrainOnShutdown the pending
// tasks are delivered first, until ctx ends; running tasks get the shutdown timeout to
// finish; tasks still queued stay in Redis, for the next start or another process's workers.
func (q *AsynqQueue) Shutdown(ctx context.Context) error {
	q.closed.Store(true)
	if q.drain {
		q.waitEmpty(ctx)
	}
	q.srv.stop()
	q.SweepArchive()
	return nil // the client and inspector share p.Redis, which the caller closes
}

// drainPoll is how often Shutdown checks whether the queue is empty yet (DrainOnShutdown).
const drainPoll = 10 * time.Millisecond

// waitEmpty waits until the queue holds no pending task, while this process's workers run
// and until ctx ends; a Redis error ends the wait (the tasks stay queued for the next start).
func (q *AsynqQueue) waitEmpty(ctx context.Context) {
	if !q.srv.running() {
		return
	}
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		info, err := q.inspector.GetQueueInfo(q.queue)
		if err != nil || info.Pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			q.log.Warn("stopped before the queue was empty: the rest stays queued in Redis for the next start", "pending", info.Pending)
			return
		case <-t.C:
		}
	}
}

// Healthy reports whether Redis answered the last health check (checked every second).
func (q *AsynqQueue) Healthy() bool { return q.healthy.Load() && !q.closed.Load() }

func (q *AsynqQueue) checkHealth(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ok := q.rdb.Ping(ctx).Err() == nil
	if was := q.healthy.Swap(ok); was != ok {
		if ok {
			q.log.Info("redis is reachable again")
		} else {
			q.log.Error("redis is unreachable: triggers are refused with 503")
		}
	}
}

// SweepArchive deletes the queue's archived tasks: expired broadcasts nobody will deliver,
// and lost ones, reported first if no process has reported them yet.
func (q *AsynqQueue) SweepArchive() {
	q.reportArchivedLost(context.Background())
	n, err := q.inspector.DeleteAllArchivedTasks(q.queue)
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		q.log.Debug("archive sweep failed", "err", err)
		return
	}
	if n > 0 {
		q.log.Debug("archived broadcasts deleted", "count", n)
	}
}

// process is the asynq handler: one delivery, never retried. A stale or undecodable task is
// revoked (deleted, not archived).
func (q *AsynqQueue) process(ctx context.Context, t *asynq.Task) error {
	var ev registry.Event
	if err := json.Unmarshal(t.Payload(), &ev); err != nil {
		q.log.Error("undecodable broadcast task dropped", "err", err)
		return fmt.Errorf("decode: %v: %w", err, asynq.RevokeTask)
	}
	if err := q.worker.Process(ctx, ev); err != nil {
		return fmt.Errorf("%w: %w", err, asynq.RevokeTask)
	}
	return nil
}

// taskFailed is asynq's error handler. A task whose deadline passed while it was queued
// reaches only this function (with context.DeadlineExceeded): count it as stale.
func (q *AsynqQueue) taskFailed(_ context.Context, t *asynq.Task, err error) {
	if errors.Is(err, asynq.RevokeTask) {
		return // counted by the worker
	}
	var ev registry.Event
	_ = json.Unmarshal(t.Payload(), &ev)
	if errors.Is(err, context.DeadlineExceeded) {
		q.worker.CountStale(&ev)
		return
	}
	q.log.Warn("broadcast task failed", "app_id", ev.AppID, "event", ev.Name, "err", err)
}

// Backlog reports the queue's tasks not done yet (pending, active, scheduled and retry) and
// the age of its oldest pending task, as asynq's inspector reads them from Redis. A queue
// that never held a task has none.
func (q *AsynqQueue) Backlog(context.Context) (Backlog, error) {
	info, err := q.inspector.GetQueueInfo(q.queue)
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return Backlog{}, nil
	}
	if err != nil {
		return Backlog{}, err
	}
	return Backlog{Events: info.Pending + info.Active + info.Scheduled + info.Retry, Oldest: info.Latency}, nil
}
