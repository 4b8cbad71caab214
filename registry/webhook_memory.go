package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reverbd/reverbd/config"
)

// MemoryWebhookFeed is the WebhookFeed of a single node, kept in process. A MemoryOccupancy
// given it with NotifyWebhooks decides channel_occupied, channel_vacated, member_added,
// member_removed and subscription_count into it while its decision is held; the node adds
// the others with Add. Run hands the batches out; one Run at a time.
//
// Events wait in process until Run hands them out: at most webhookQueueMax per app (the
// oldest are dropped past it, with a warning), and a stop loses those not sent.
type MemoryWebhookFeed struct {
	webhookTiming
	log *slog.Logger
	ids string // starts every batch ID: random, so that IDs do not repeat across restarts

	mu      sync.Mutex
	apps    map[string]*memoryHookQueue
	vacates map[hookChannel]time.Time // emptied channels → when their re-check is due
	counts  map[hookChannel]*hookCount
	seq     uint64        // numbers the batches
	wake    chan struct{} // tells Run something may be due sooner (capacity 1)
}

// MemoryWebhookFeedParams configures NewMemoryWebhookFeed.
type MemoryWebhookFeedParams struct {
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
	// Log receives dropped events and failed sends; nil means slog.Default().
	Log *slog.Logger
}

type hookChannel struct{ app, channel string }

// hookCount is the subscription_count state of one channel.
type hookCount struct {
	last    time.Time // when its last event was decided
	n       int       // the latest count, while pending
	pending bool      // a count waits for webhookCountInterval after last
}

// memoryHookQueue is one app's events waiting to be batched, and its batch handed out but
// not done.
type memoryHookQueue struct {
	events  []timedHook
	batch   *WebhookBatch
	retryAt time.Time // when a batch whose send failed is handed out again
	dropped bool      // events were dropped since the queue was last under its bound
}

type timedHook struct {
	at time.Time
	ev WebhookEvent
}

// NewMemoryWebhookFeed returns an empty feed.
func NewMemoryWebhookFeed(p MemoryWebhookFeedParams) *MemoryWebhookFeed {
	var b [6]byte
	_, _ = rand.Read(b[:])
	f := &MemoryWebhookFeed{
		webhookTiming: newWebhookTiming(p.Wants, p.VacatedDelay, p.BatchWindow, p.BatchSize),
		log:           p.Log, ids: hex.EncodeToString(b[:]),
		apps: map[string]*memoryHookQueue{}, vacates: map[hookChannel]time.Time{}, counts: map[hookChannel]*hookCount{},
		wake: make(chan struct{}, 1),
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	return f
}

// Add implements WebhookFeed; events of a type the app does not take are dropped.
func (f *MemoryWebhookFeed) Add(_ context.Context, appID string, evs ...WebhookEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for _, ev := range evs {
		if f.want(appID, ev.Name) {
			f.push(appID, ev, now)
		}
	}
	return nil
}

// push queues ev for the app. Called with f.mu held.
func (f *MemoryWebhookFeed) push(appID string, ev WebhookEvent, now time.Time) {
	q := f.apps[appID]
	if q == nil {
		q = &memoryHookQueue{}
		f.apps[appID] = q
	}
	if len(q.events) >= webhookQueueMax {
		q.events = slices.Delete(q.events, 0, 1)
		if !q.dropped {
			q.dropped = true
			f.log.Warn("registry: webhook events are not being sent; dropping the oldest", "app_id", appID, "queued", webhookQueueMax)
		}
	} else if q.dropped && len(q.events) < webhookQueueMax/2 {
		q.dropped = false
	}
	q.events = append(q.events, timedHook{at: now, ev: ev})
	if len(q.events) == 1 || len(q.events) == f.size {
		f.poke()
	}
}

// poke wakes Run without waiting.
func (f *MemoryWebhookFeed) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// filled is told by the occupancy, with its decision held, that the channel's count went
// from 0 to 1: channel_occupied, unless the channel was waiting for its vacated re-check.
func (f *MemoryWebhookFeed) filled(appID, channel string) {
	if !f.wantsOccupancy(appID) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := hookChannel{appID, channel}
	if _, ok := f.vacates[k]; ok {
		delete(f.vacates, k) // emptied and filled again within the delay: nothing to tell
		return
	}
	if f.want(appID, config.WebhookChannelOccupied) {
		f.push(appID, WebhookEvent{Name: config.WebhookChannelOccupied, Channel: channel}, time.Now())
	}
}

// emptied is told by the occupancy, with its decision held, that the channel's count went to
// 0: its channel_vacated is decided after the delay, unless it is filled again meanwhile.
func (f *MemoryWebhookFeed) emptied(appID, channel string) {
	if !f.wantsOccupancy(appID) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vacates[hookChannel{appID, channel}] = time.Now().Add(f.delay)
	f.poke()
}

// member is told by the occupancy each member event it decides.
func (f *MemoryWebhookFeed) member(appID, channel, userID string, added bool) {
	ev := memberHook(channel, userID, added)
	if !f.want(appID, ev.Name) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.push(appID, ev, time.Now())
}

// counted is told by the occupancy the subscription count n of a non-presence channel right
// after it changed: told at once unless the channel's last count was told less than
// webhookCountInterval ago; then the latest count is told once that interval is over.
func (f *MemoryWebhookFeed) counted(appID, channel string, n int) {
	if !f.want(appID, config.WebhookSubscriptionCount) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	k := hookChannel{appID, channel}
	c := f.counts[k]
	if c == nil || (!c.pending && now.Sub(c.last) >= webhookCountInterval) {
		f.counts[k] = &hookCount{last: now}
		f.push(appID, countHook(channel, n), now)
		return
	}
	c.n = n
	if !c.pending {
		c.pending = true
		f.poke()
	}
}

// Run implements WebhookFeed: it hands out each app's batches, one at a time per app, and
// decides the vacated and subscription_count events that fall due, until ctx ends; then it
// returns nil. Events and batches not done stay in the feed for the next Run.
func (f *MemoryWebhookFeed) Run(ctx context.Context, send func(context.Context, WebhookBatch) error) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		batches, next := f.due(time.Now())
		for _, b := range batches {
			err := send(ctx, b)
			f.finish(b, err, ctx.Err() == nil)
		}
		if ctx.Err() != nil {
			return nil
		}
		if len(batches) > 0 {
			continue // more may have closed meanwhile
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-f.wake:
		case <-timer.C:
		}
	}
}

// due decides what fell due at now (vacated re-checks, pending counts), closes the batches
// that are full or old enough, and returns the batches to hand out (one per app, in app
// order) and when something falls due next (zero: nothing waits).
func (f *MemoryWebhookFeed) due(now time.Time) ([]WebhookBatch, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var next time.Time
	soon := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	// What fell due is told in the order it fell due.
	type dueHook struct {
		at time.Time
		ev WebhookEvent
		k  hookChannel
	}
	var fell []dueHook
	for k, at := range f.vacates {
		if now.Before(at) {
			soon(at)
			continue
		}
		delete(f.vacates, k)
		if f.want(k.app, config.WebhookChannelVacated) {
			fell = append(fell, dueHook{at, WebhookEvent{Name: config.WebhookChannelVacated, Channel: k.channel}, k})
		}
	}
	for k, c := range f.counts {
		at := c.last.Add(webhookCountInterval)
		switch {
		case now.Before(at):
			if c.pending {
				soon(at)
			}
		case c.pending:
			c.last, c.pending = now, false
			fell = append(fell, dueHook{at, countHook(k.channel, c.n), k})
		default:
			delete(f.counts, k)
		}
	}
	slices.SortFunc(fell, func(a, b dueHook) int { return a.at.Compare(b.at) })
	for _, d := range fell {
		f.push(d.k.app, d.ev, now)
	}
	var out []WebhookBatch
	for appID, q := range f.apps {
		if q.batch == nil && len(q.events) > 0 {
			if closes := q.events[0].at.Add(f.window); len(q.events) < f.size && now.Before(closes) {
				soon(closes)
			} else {
				q.batch = f.close(appID, q, now)
			}
		}
		switch {
		case q.batch == nil:
			if len(q.events) == 0 {
				delete(f.apps, appID)
			}
		case now.Before(q.retryAt):
			soon(q.retryAt)
		default:
			out = append(out, *q.batch)
		}
	}
	slices.SortFunc(out, func(a, b WebhookBatch) int { return strings.Compare(a.AppID, b.AppID) })
	return out, next
}

// close makes a batch of the app's first events. Called with f.mu held.
func (f *MemoryWebhookFeed) close(appID string, q *memoryHookQueue, now time.Time) *WebhookBatch {
	n := min(len(q.events), f.size)
	evs := make([]WebhookEvent, n)
	for i, e := range q.events[:n] {
		evs[i] = e.ev
	}
	q.events = slices.Delete(q.events, 0, n)
	f.seq++
	return &WebhookBatch{ID: f.ids + "-" + strconv.FormatUint(f.seq, 10), AppID: appID, TimeMS: now.UnixMilli(), Events: evs}
}

// finish records the outcome of sending b: done, or handed out again after the retry delay
// (a failure is logged when logFailure is set).
func (f *MemoryWebhookFeed) finish(b WebhookBatch, err error, logFailure bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.apps[b.AppID]
	if q == nil || q.batch == nil || q.batch.ID != b.ID {
		return
	}
	if err == nil {
		q.batch = nil
		return
	}
	q.retryAt = time.Now().Add(f.retry)
	if !logFailure {
		return
	}
	f.log.Warn("registry: sending a webhook batch failed; it is handed out again", "app_id", b.AppID, "batch", b.ID, "retry_in", f.retry, "err", err)
}
