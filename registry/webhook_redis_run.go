package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/config"
)

// interval is how often the lease is renewed, and looked for by the other nodes.
func (f *RedisWebhookFeed) interval() time.Duration { return max(f.ttl/3, time.Millisecond) }

// Run implements WebhookFeed. Every node runs it; the one that takes the feed's lease hands
// batches out and renews the lease every LeaseTTL/3, the others try to take the lease as
// often. A holder that loses its lease (a renewal refused, or none taken for a lease) stops
// its work, its send's context cancelled. When ctx ends the holder gives the lease up, so
// another node takes over within LeaseTTL/3, and Run returns nil. Redis errors are logged
// and retried.
func (f *RedisWebhookFeed) Run(ctx context.Context, send func(context.Context, WebhookBatch) error) error {
	t := time.NewTicker(f.interval())
	defer t.Stop()
	for {
		if held, err := f.hold(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("registry: taking the webhook lease failed", "node", f.node, "err", err)
		} else if held {
			f.lead(ctx, send)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// hold takes or renews the feed's lease, within one interval, and reports whether this node
// holds it.
func (f *RedisWebhookFeed) hold(ctx context.Context) (bool, error) {
	hctx, cancel := context.WithTimeout(ctx, f.interval())
	defer cancel()
	n, err := f.run(hctx, webhookLeaseScript, f.node, f.ttl.Milliseconds(), "").Int()
	if err != nil {
		return false, fmt.Errorf("registry: webhook lease: %w", err)
	}
	return n == 1, nil
}

// dropLease gives the lease up, if this node holds it; a failure leaves it to expire.
func (f *RedisWebhookFeed) dropLease() {
	ctx, cancel := context.WithTimeout(context.Background(), dropLeaseTimeout)
	defer cancel()
	if err := f.run(ctx, webhookLeaseScript, f.node, f.ttl.Milliseconds(), "1").Err(); err != nil {
		f.log.Warn("registry: the webhook lease was not given up; it expires by itself", "node", f.node, "err", err)
	}
}

// lead does the holder's work while this node holds the lease and ctx lasts.
func (f *RedisWebhookFeed) lead(ctx context.Context, send func(context.Context, WebhookBatch) error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { f.keepLease(lctx, cancel) })
	f.log.Info("registry: this node sends the webhooks", "node", f.node)
	f.work(lctx, send)
	cancel()
	wg.Wait()
	if ctx.Err() != nil {
		f.dropLease()
		return
	}
	f.log.Info("registry: this node no longer sends the webhooks", "node", f.node)
}

// keepLease renews the lease every interval until ctx ends; it calls lost when the lease
// went to another node or could not be renewed for a lease's time.
func (f *RedisWebhookFeed) keepLease(ctx context.Context, lost func()) {
	t := time.NewTicker(f.interval())
	defer t.Stop()
	renewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		held, err := f.hold(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			f.log.Warn("registry: renewing the webhook lease failed", "node", f.node, "err", err)
			if time.Since(renewed) < f.ttl-f.interval() {
				continue
			}
			fallthrough
		case !held:
			lost()
			return
		default:
			renewed = time.Now()
		}
	}
}

// work does the holder's passes, every poll, until ctx ends.
func (f *RedisWebhookFeed) work(ctx context.Context, send func(context.Context, WebhookBatch) error) {
	t := time.NewTicker(f.poll)
	defer t.Stop()
	retryAt := map[string]time.Time{} // apps whose send failed → when to hand their batch again
	for {
		if err := f.pass(ctx, send, retryAt); err != nil && ctx.Err() == nil {
			f.log.Warn("registry: webhook feed", "node", f.node, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// hookPassLimit bounds the vacated re-checks and the counts one script decides.
const hookPassLimit = 100

// pass decides the vacated and subscription_count events that fell due, then hands out
// every batch that is ready, app by app.
func (f *RedisWebhookFeed) pass(ctx context.Context, send func(context.Context, WebhookBatch) error, retryAt map[string]time.Time) error {
	if err := f.vacate(ctx); err != nil {
		return err
	}
	for {
		n, err := f.run(ctx, webhookCountsScript, hookPassLimit).Int()
		if err != nil {
			return fmt.Errorf("registry: decide subscription counts: %w", err)
		}
		if n < hookPassLimit {
			break
		}
	}
	apps, err := f.rdb.SMembers(ctx, f.prefix+":wh:apps").Result()
	if err != nil {
		return fmt.Errorf("registry: list webhook apps: %w", err)
	}
	slices.Sort(apps)
	var errs []error
	for _, appID := range apps {
		if time.Now().Before(retryAt[appID]) {
			continue
		}
		delete(retryAt, appID)
		if err := f.sendApp(ctx, appID, send, retryAt); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// vacate re-checks the emptied channels whose vacated delay is over.
func (f *RedisWebhookFeed) vacate(ctx context.Context) error {
	for {
		due, err := f.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: f.prefix + ":wh:vacate", ByScore: true, Start: "-inf", Stop: "+inf", Count: hookPassLimit,
		}).Result()
		if err != nil {
			return fmt.Errorf("registry: pending vacates: %w", err)
		}
		if len(due) == 0 {
			return nil
		}
		args := make([]any, 0, 2*len(due))
		for _, m := range due {
			appID, _, _ := strings.Cut(m, "\x00")
			want := ""
			if f.want(appID, config.WebhookChannelVacated) {
				want = "1"
			}
			args = append(args, m, want)
		}
		n, err := f.run(ctx, webhookVacateScript, args...).Int()
		if err != nil {
			return fmt.Errorf("registry: re-check vacated channels: %w", err)
		}
		if n < hookPassLimit {
			return nil // the first ones not due yet: none after them is
		}
	}
}

// sendApp hands out the app's batches while they are ready and sent.
func (f *RedisWebhookFeed) sendApp(ctx context.Context, appID string, send func(context.Context, WebhookBatch) error, retryAt map[string]time.Time) error {
	for ctx.Err() == nil {
		b, ok, err := f.claim(ctx, appID)
		if err != nil || !ok {
			return err
		}
		if err := send(ctx, b); err != nil {
			retryAt[appID] = time.Now().Add(f.retry)
			if ctx.Err() == nil {
				f.log.Warn("registry: sending a webhook batch failed; it is handed out again", "app_id", appID, "batch", b.ID, "retry_in", f.retry, "err", err)
			}
			return nil
		}
		if err := f.run(ctx, webhookDoneScript, appID, b.ID).Err(); err != nil {
			return fmt.Errorf("registry: webhook batch %s of app %s done: %w", b.ID, appID, err)
		}
	}
	return nil
}

// claim returns the app's stored batch, or closes a new one when it is ready; ok is false
// when the app has no batch ready.
func (f *RedisWebhookFeed) claim(ctx context.Context, appID string) (WebhookBatch, bool, error) {
	res, err := f.run(ctx, webhookClaimScript, appID, f.size, f.window.Milliseconds()).StringSlice()
	if err != nil {
		return WebhookBatch{}, false, fmt.Errorf("registry: claim a webhook batch of app %s: %w", appID, err)
	}
	if len(res) != 4 || res[0] != "batch" {
		return WebhookBatch{}, false, nil
	}
	b := WebhookBatch{ID: res[1], AppID: appID}
	if b.TimeMS, err = strconv.ParseInt(res[2], 10, 64); err == nil {
		err = json.Unmarshal([]byte(res[3]), &b.Events)
	}
	if err != nil {
		// Written by this package only; a batch that cannot be read is dropped, not retried forever.
		f.log.Error("registry: a stored webhook batch cannot be read; dropping it", "app_id", appID, "batch", b.ID, "err", err)
		return WebhookBatch{}, false, f.run(ctx, webhookDoneScript, appID, b.ID).Err()
	}
	return b, true, nil
}
