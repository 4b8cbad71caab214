package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/config"
)

// RedisWebhookFeed is the WebhookFeed of a cluster, kept in the Redis of its RedisOccupancy
// under the same prefix. The occupancy's scripts (RedisOccupancyParams.Webhooks) decide
// channel_occupied, channel_vacated, member_added, member_removed and subscription_count
// and append them to the app's stream in the same script as the occupancy change, so a
// decision is made once for the cluster and survives the death of the node that made it;
// Add appends the events a node sees itself. One node at a time, the one holding the
// feed's lease, runs Run's work: it re-checks the emptied channels once the vacated delay is
// over (channel_vacated for those still empty), decides the coalesced subscription counts,
// and hands the batches out, each app's in order, one at a time per app.
//
// A batch is claimed by a script that moves its events out of the stream into the app's
// stored batch, with its ID and TimeMS; it is deleted once send returned nil. A stored
// batch not done (send failed, the holder died or stopped) is handed out again, by the same
// or the next holder, with the same ID, TimeMS and events, and the app's next batch waits
// for it.
//
// Keys, besides the occupancy's (P is the prefix, {app} the escaped app id):
//
//	P:wh:lease              the node handing batches out (PX LeaseTTL)
//	P:wh:apps               set of app ids with events in their stream or a stored batch
//	P:wh:seq                counter numbering the batches
//	P:wh:vacate             sorted set "app\x00channel" → when its vacated re-check is due (ms)
//	P:wh:counts             sorted set "app\x00channel" → when its coalesced count is due (ms)
//	P:app:{app}:wh          stream of the app's events, field "e": a WebhookEvent as JSON
//	P:app:{app}:wh:batch    hash id, time, events: the app's batch handed out, not done
//	P:app:{app}:ch:{ch}:whcount  marker (PX 1 s): the channel's last count was decided lately
//
// Each stream is capped near webhookQueueMax events (XADD MAXLEN ~), so Redis cannot grow
// while no node runs Run: past it the oldest events are dropped.
type RedisWebhookFeed struct {
	webhookTiming
	rdb    redis.UniversalClient
	prefix string
	node   string
	ttl    time.Duration
	log    *slog.Logger
	poll   time.Duration // how often the holder looks for work
}

// RedisWebhookFeedParams configures NewRedisWebhookFeed.
type RedisWebhookFeedParams struct {
	// Redis and Prefix are those of the RedisOccupancy that decides into the feed.
	Redis  redis.UniversalClient
	Prefix string
	// NodeID is this node's id, unique in the cluster (the occupancy's).
	NodeID string
	// LeaseTTL is how long the lease of the node handing batches out lives without renewal:
	// another node takes over within about 4/3 of it after that node died. Zero means
	// DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Wants reports whether an app takes events of a type (for instance
	// Apps.WantsWebhook); nil takes none. Events an app does not take are neither decided
	// nor kept.
	Wants func(appID, eventType string) bool
	// VacatedDelay is how long a channel must stay empty for its channel_vacated; zero means
	// DefaultVacatedDelay.
	VacatedDelay time.Duration
	// BatchWindow closes a batch when its first event is this old; zero means
	// DefaultWebhookBatchWindow.
	BatchWindow time.Duration
	// BatchSize closes a batch when it has this many events; zero means
	// DefaultWebhookBatchSize.
	BatchSize int
	// Log receives the lease changes and failed sends; nil means slog.Default().
	Log *slog.Logger
}

// NewRedisWebhookFeed returns the feed kept in p.Redis under p.Prefix. It does no I/O.
func NewRedisWebhookFeed(p RedisWebhookFeedParams) *RedisWebhookFeed {
	f := &RedisWebhookFeed{
		webhookTiming: newWebhookTiming(p.Wants, p.VacatedDelay, p.BatchWindow, p.BatchSize),
		rdb:           p.Redis, prefix: p.Prefix, node: p.NodeID, ttl: p.LeaseTTL, log: p.Log,
	}
	if f.ttl <= 0 {
		f.ttl = DefaultLeaseTTL
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	f.poll = min(max(f.window/4, 5*time.Millisecond), 100*time.Millisecond)
	return f
}

var (
	webhookLeaseScript  = occupancyScript("webhook_lease")
	webhookClaimScript  = occupancyScript("webhook_claim")
	webhookDoneScript   = occupancyScript("webhook_done")
	webhookVacateScript = occupancyScript("webhook_vacate")
	webhookCountsScript = occupancyScript("webhook_counts")
)

// hookLetters are the letters of the event types the occupancy's scripts decide (see HOOKS
// in common.lua).
var hookLetters = []struct {
	eventType string
	letter    byte
}{
	{config.WebhookChannelOccupied, 'o'}, {config.WebhookChannelVacated, 'v'},
	{config.WebhookMemberAdded, 'a'}, {config.WebhookMemberRemoved, 'r'},
	{config.WebhookSubscriptionCount, 'c'},
}

// letters returns the letters of the event types the app takes that the scripts decide; ""
// for an app that takes none of them.
func (f *RedisWebhookFeed) letters(appID string) string {
	if f.wants == nil {
		return ""
	}
	var b [5]byte
	n := 0
	for _, l := range hookLetters {
		if f.wants(appID, l.eventType) {
			b[n] = l.letter
			n++
		}
	}
	return string(b[:n])
}

// run runs s with the prefix and no relay as ARGV[1] and ARGV[2], routed by the nodes key.
func (f *RedisWebhookFeed) run(ctx context.Context, s *redis.Script, args ...any) *redis.Cmd {
	return s.Run(ctx, f.rdb, []string{f.prefix + ":nodes"}, append([]any{f.prefix, ""}, args...)...)
}

// appKey matches app_key in common.lua.
func (f *RedisWebhookFeed) appKey(appID string) string {
	return f.prefix + ":app:" + appKeyEscaper.Replace(appID)
}

// Add implements WebhookFeed: it appends the events the app takes to its stream.
func (f *RedisWebhookFeed) Add(ctx context.Context, appID string, evs ...WebhookEvent) error {
	var entries []string
	for _, ev := range evs {
		if !f.want(appID, ev.Name) {
			continue
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("registry: webhook event of app %s: %w", appID, err)
		}
		entries = append(entries, string(b))
	}
	if len(entries) == 0 {
		return nil
	}
	_, err := f.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range entries {
			p.XAdd(ctx, &redis.XAddArgs{Stream: f.appKey(appID) + ":wh", MaxLen: webhookQueueMax, Approx: true, Values: []any{"e", e}})
		}
		p.SAdd(ctx, f.prefix+":wh:apps", appID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("registry: add webhook events of app %s: %w", appID, err)
	}
	return nil
}

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
