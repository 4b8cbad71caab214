package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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
