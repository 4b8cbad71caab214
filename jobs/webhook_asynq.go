package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/registry/metrics"
)

// TaskWebhook is the asynq task type of one webhook delivery.
const TaskWebhook = "reverbd:webhook"

// AsynqWebhookQueue runs webhook deliveries as asynq tasks on a queue of their own, with a
// server of their own: its small concurrency and its retries never take a broadcast worker,
// and a slow receiver never delays a broadcast. Each delivery is one task whose TaskID is
// the delivery ID: a batch handed out again finds its IDs taken (asynq.ErrTaskIDConflict)
// and enqueues nothing. A task is kept after it ends for RetryFor plus an hour (Retention),
// so its ID stays taken; a task given up is archived, where asynq's web UI shows it.
type AsynqWebhookQueue struct {
	rules  WebhookRules
	poster *webhookPoster
	queue  string
	client *asynq.Client
	log    *slog.Logger

	enqueueOnly bool

	srv asynqServer // the workers
}

// AsynqWebhookParams configures an AsynqWebhookQueue.
type AsynqWebhookParams struct {
	// Redis is shared with the other asynq parts; the caller closes it after Shutdown.
	Redis redis.UniversalClient
	Rules WebhookRules
	// Queue is the asynq queue (REVERB_WEBHOOK_QUEUE).
	Queue string
	// Concurrency is the most POSTs at once in this process; zero means 8.
	Concurrency int
	// PollInterval is how often an idle worker polls Redis; zero means 100 ms (a webhook
	// waits for its batch window anyway).
	PollInterval time.Duration
	// RetryCheckInterval is how often due retries are moved back to pending (asynq's
	// DelayedTaskCheckInterval, 5 s by default in asynq); zero means 1 s.
	RetryCheckInterval time.Duration
	// ShutdownTimeout is how long Shutdown lets POSTs in flight finish before asynq puts
	// them back in the queue; zero means the POST timeout plus a second.
	ShutdownTimeout time.Duration
	// EnqueueOnly runs no worker: other processes (`reverbd worker`, or socket nodes with
	// REVERB_QUEUE_WORKERS=true) POST.
	EnqueueOnly bool
	// Metrics counts the POSTs; nil counts nothing.
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Now is the clock of the budget; nil means time.Now.
	Now func() time.Time
}

// NewAsynqWebhookQueue returns a queue on p.Redis. It does not contact Redis.
func NewAsynqWebhookQueue(p AsynqWebhookParams) *AsynqWebhookQueue {
	poster := newWebhookPoster(p.Rules, p.Metrics, p.Log, p.Now)
	if p.Concurrency <= 0 {
		p.Concurrency = 8
	}
	if p.PollInterval <= 0 {
		p.PollInterval = 100 * time.Millisecond
	}
	if p.RetryCheckInterval <= 0 {
		p.RetryCheckInterval = time.Second
	}
	if p.ShutdownTimeout <= 0 {
		p.ShutdownTimeout = poster.rules.Timeout + time.Second
	}
	q := &AsynqWebhookQueue{
		rules: poster.rules, poster: poster, queue: p.Queue, log: poster.log,
		client:      asynq.NewClientFromRedisClient(p.Redis),
		enqueueOnly: p.EnqueueOnly,
	}
	q.srv.server = asynq.NewServerFromRedisClient(p.Redis, asynq.Config{
		Concurrency:              p.Concurrency,
		Queues:                   map[string]int{p.Queue: 1},
		TaskCheckInterval:        p.PollInterval,
		DelayedTaskCheckInterval: p.RetryCheckInterval,
		RetryDelayFunc:           q.retryDelay,
		// A failed try is counted and logged by the handler, the error handler has nothing
		// to add.
		ShutdownTimeout: p.ShutdownTimeout,
		Logger:          asynqLogger{poster.log.With("library", "asynq")},
		LogLevel:        asynq.WarnLevel,
	})
	return q
}

// Enqueue implements WebhookQueue: one Redis round trip, bounded by a short timeout.
func (q *AsynqWebhookQueue) Enqueue(ctx context.Context, d WebhookDelivery) error {
	payload, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode webhook: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, enqueueTimeout)
	defer cancel()
	_, err = q.client.EnqueueContext(ctx, asynq.NewTask(TaskWebhook, payload),
		asynq.Queue(q.queue),
		asynq.TaskID(d.ID),
		asynq.MaxRetry(q.rules.maxRetries()),
		// asynq counts timeouts in whole seconds; the POST has its own.
		asynq.Timeout(q.rules.Timeout+2*time.Second),
		asynq.Retention(q.rules.RetryFor+webhookIDMargin))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil // enqueued before: the batch was handed out again
	}
	if err != nil {
		return fmt.Errorf("enqueue on redis: %w", err)
	}
	return nil
}

// Run implements WebhookQueue: it starts the workers (unless EnqueueOnly) until ctx ends.
func (q *AsynqWebhookQueue) Run(ctx context.Context) error {
	if ok, err := q.srv.start(asynq.HandlerFunc(q.process), q.enqueueOnly); err != nil {
		return fmt.Errorf("start asynq webhooks: %w", err)
	} else if !ok {
		return nil
	}
	<-ctx.Done()
	q.srv.stop()
	return nil
}

// Shutdown implements WebhookQueue: the workers stop; POSTs in flight get the shutdown
// timeout, then go back to the queue for the next start or another process.
func (q *AsynqWebhookQueue) Shutdown(context.Context) error {
	q.srv.stop()
	return nil
}

// process is the asynq handler: one try. A retry is asked for by returning the error, a
// delivery given up by wrapping asynq.SkipRetry (the task is archived).
func (q *AsynqWebhookQueue) process(ctx context.Context, t *asynq.Task) error {
	var d WebhookDelivery
	if err := json.Unmarshal(t.Payload(), &d); err != nil {
		q.log.Error("undecodable webhook task dropped", "err", err)
		return fmt.Errorf("decode: %v: %w", err, asynq.SkipRetry)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	switch step, err := q.poster.try(ctx, &d, retried); step {
	case stepDone:
		return nil
	case stepRetry:
		return err
	default:
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
}

// retryDelay is the server's RetryDelayFunc: the rules' backoff, the same the handler
// checked against the budget.
func (q *AsynqWebhookQueue) retryDelay(n int, _ error, t *asynq.Task) time.Duration {
	var d WebhookDelivery
	_ = json.Unmarshal(t.Payload(), &d)
	// n is the retries done before this failure, as the handler's asynq.GetRetryCount.
	return q.rules.backoff(d.ID, n)
}
