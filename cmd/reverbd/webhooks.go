package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// webhookConcurrency is the most webhook POSTs one process makes at once. The POSTs have
// workers of their own (a separate asynq server with the redis queue), so a slow receiver
// never holds a broadcast worker.
const webhookConcurrency = 8

// webhooks is the sending side of the webhooks in `reverbd start`: the feed the occupancy
// and the ws server decide into, the sender its batches are handed to, and the queue that
// POSTs them. It owns the goroutines of the feed's Run and the queue's Run.
type webhooks struct {
	feed   registry.WebhookFeed
	sender *jobs.WebhookSender
	queue  jobs.WebhookQueue
	window time.Duration
	log    *slog.Logger

	cancel context.CancelFunc // ends the Runs; set by start
	wg     sync.WaitGroup
}

// newWebhooks builds the webhooks' parts around feed. The sender reads apps at each batch,
// so a reload (SIGHUP) applies to the batches that follow.
func newWebhooks(cfg *config.Config, feed registry.WebhookFeed, apps *registry.Apps, rdb redis.UniversalClient, m *metrics.Metrics, log *slog.Logger) *webhooks {
	log = log.With("component", "webhooks")
	queue := newWebhookQueue(cfg, rdb, m, log, !cfg.QueueWorkers)
	return &webhooks{
		feed:   feed,
		sender: jobs.NewWebhookSender(jobs.WebhookSenderParams{Apps: apps, Queue: queue, Log: log}),
		queue:  queue,
		window: cfg.WebhookBatchWindow,
		log:    log,
	}
}

// newMemoryWebhookFeed is the feed of a single node; occupancy decides into it.
func newMemoryWebhookFeed(cfg *config.Config, apps *registry.Apps, occupancy *registry.MemoryOccupancy, log *slog.Logger) *registry.MemoryWebhookFeed {
	feed := registry.NewMemoryWebhookFeed(registry.MemoryWebhookFeedParams{
		Wants:        apps.WantsWebhook,
		VacatedDelay: cfg.WebhookVacatedDelay,
		BatchWindow:  cfg.WebhookBatchWindow,
		BatchSize:    cfg.WebhookBatchSize,
		Log:          log.With("component", "webhooks"),
	})
	occupancy.NotifyWebhooks(feed)
	return feed
}

// newWebhookQueue builds the queue of webhook POSTs: on asynq with the redis queue (without
// workers when enqueueOnly), else in process.
func newWebhookQueue(cfg *config.Config, rdb redis.UniversalClient, m *metrics.Metrics, log *slog.Logger, enqueueOnly bool) jobs.WebhookQueue {
	rules := jobs.WebhookRules{Timeout: cfg.WebhookTimeout, RetryFor: cfg.WebhookRetryFor}
	if cfg.QueueConnection != "redis" {
		return jobs.NewMemoryWebhookQueue(jobs.MemoryWebhookParams{Rules: rules, Concurrency: webhookConcurrency, Metrics: m, Log: log})
	}
	return jobs.NewAsynqWebhookQueue(jobs.AsynqWebhookParams{
		Redis: rdb, Rules: rules, Queue: cfg.AsynqWebhookQueue(), Concurrency: webhookConcurrency,
		EnqueueOnly: enqueueOnly, Metrics: m, Log: log,
	})
}

// start runs the queue and the feed, which hands its batches to the sender.
func (w *webhooks) start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Go(func() {
		if err := w.queue.Run(ctx); err != nil {
			w.log.Error("webhook queue stopped", "err", err)
		}
	})
	w.wg.Go(func() {
		if err := w.feed.Run(ctx, w.sender.Send); err != nil {
			w.log.Error("webhook feed stopped", "err", err)
		}
	})
}

// stop lets the feed hand out the batch of the last events (a batch window), then ends the
// feed and the queue: POSTs in flight may finish until ctx ends. Deliveries waiting for a
// retry stay in Redis with the redis queue, and are lost with the in-process one.
func (w *webhooks) stop(ctx context.Context) {
	if w.cancel == nil {
		return // never started
	}
	t := time.NewTimer(w.window + 50*time.Millisecond)
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	w.cancel()
	w.wg.Wait()
	if err := w.queue.Shutdown(ctx); err != nil {
		w.log.Warn("webhook queue shutdown", "err", err)
	}
}
