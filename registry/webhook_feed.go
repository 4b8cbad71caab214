package registry

import (
	"time"

	"github.com/reverbd/reverbd/config"
)

// Defaults of the webhook feeds' parameters.
const (
	// DefaultVacatedDelay is how long a channel stays empty before its channel_vacated is
	// decided: a page reload (an unsubscribe then a subscribe again within it) decides
	// neither channel_vacated nor channel_occupied.
	DefaultVacatedDelay = 3 * time.Second
	// DefaultWebhookBatchWindow is the age of a batch's first event at which the batch is
	// closed.
	DefaultWebhookBatchWindow = 250 * time.Millisecond
	// DefaultWebhookBatchSize is the number of events at which a batch is closed.
	DefaultWebhookBatchSize = 20
)

// webhookQueueMax bounds the events of one app waiting to be batched (in process, or in
// the app's Redis stream) so that memory cannot grow without a sender: past it the oldest
// events are dropped. It matches HOOK_MAX in occupancy_lua/common.lua.
const webhookQueueMax = 10000

// webhookCountInterval is the least time between two subscription_count events of one
// channel; the changes in between are told as one event with the latest count.
const webhookCountInterval = time.Second

// webhookRetryDelay is how long a batch whose send failed waits before it is handed out
// again.
const webhookRetryDelay = time.Second

// webhookTiming is the timing every feed has, with its defaults applied.
type webhookTiming struct {
	wants  func(appID, eventType string) bool
	delay  time.Duration // VacatedDelay
	window time.Duration // BatchWindow
	size   int           // BatchSize
	retry  time.Duration // webhookRetryDelay except in tests
}

func newWebhookTiming(wants func(appID, eventType string) bool, delay, window time.Duration, size int) webhookTiming {
	t := webhookTiming{wants: wants, delay: delay, window: window, size: size, retry: webhookRetryDelay}
	if t.delay <= 0 {
		t.delay = DefaultVacatedDelay
	}
	if t.window <= 0 {
		t.window = DefaultWebhookBatchWindow
	}
	if t.size <= 0 {
		t.size = DefaultWebhookBatchSize
	}
	return t
}

// want reports whether the app takes events of eventType.
func (t *webhookTiming) want(appID, eventType string) bool {
	return t.wants != nil && t.wants(appID, eventType)
}

// wantsOccupancy reports whether the app takes channel_occupied or channel_vacated: either
// makes an emptied channel wait for its re-check, so that a page reload tells neither.
func (t *webhookTiming) wantsOccupancy(appID string) bool {
	return t.want(appID, config.WebhookChannelOccupied) || t.want(appID, config.WebhookChannelVacated)
}

// memberHook is the member_added or member_removed event of user on channel.
func memberHook(channel, userID string, added bool) WebhookEvent {
	name := config.WebhookMemberRemoved
	if added {
		name = config.WebhookMemberAdded
	}
	return WebhookEvent{Name: name, Channel: channel, UserID: userID}
}

// countHook is the subscription_count event of channel.
func countHook(channel string, n int) WebhookEvent {
	return WebhookEvent{Name: config.WebhookSubscriptionCount, Channel: channel, SubscriptionCount: &n}
}
