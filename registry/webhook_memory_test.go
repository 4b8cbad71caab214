package registry

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reverbd/reverbd/config"
)

// hookRecorder is a send function that records the batches handed to it.
type hookRecorder struct {
	mu      sync.Mutex
	batches []WebhookBatch
	fail    error // returned (and the batch still recorded) while set
}

func (r *hookRecorder) send(_ context.Context, b WebhookBatch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, b)
	return r.fail
}

func (r *hookRecorder) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

// handed returns the batches handed out so far.
func (r *hookRecorder) handed() []WebhookBatch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

// events returns the events of the app's batches handed out so far, in order, as
// "name channel user" strings ("name channel =count" for subscription_count).
func (r *hookRecorder) events(appID string) []string {
	var out []string
	for _, b := range r.handed() {
		if b.AppID != appID {
			continue
		}
		for _, ev := range b.Events {
			out = append(out, hookString(ev))
		}
	}
	return out
}

func hookString(ev WebhookEvent) string {
	s := ev.Name + " " + ev.Channel
	if ev.Event != "" {
		s += " " + ev.Event
	}
	if ev.UserID != "" {
		s += " " + ev.UserID
	}
	if ev.SubscriptionCount != nil {
		s += " =" + itoa(*ev.SubscriptionCount)
	}
	return s
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// waitEvents waits until the app's events handed out are want, failing the test otherwise.
func (r *hookRecorder) waitEvents(t *testing.T, appID string, want []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(r.events(appID), want) {
		if time.Now().After(deadline) {
			t.Fatalf("events of %s:\n got %q\nwant %q", appID, r.events(appID), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runFeed runs feed with r until the test ends.
func runFeed(t *testing.T, feed WebhookFeed, r *hookRecorder) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx, r.send) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// hookApps are the apps of the webhook tests: "app" takes every event type, "quiet" has no
// webhooks, "members" takes member events only.
func hookApps() *Apps {
	return NewApps([]config.App{
		{ID: "app", Key: "k1", Webhooks: []config.Webhook{{URL: "http://127.0.0.1/hooks"}}},
		{ID: "quiet", Key: "k2", SubscriptionCount: true},
		{ID: "members", Key: "k3", Webhooks: []config.Webhook{{URL: "http://127.0.0.1/hooks",
			EventTypes: []string{config.WebhookMemberAdded, config.WebhookMemberRemoved}}}},
	})
}

func newMemoryHooks(t *testing.T, delay time.Duration) (*MemoryOccupancy, *MemoryWebhookFeed, *hookRecorder) {
	t.Helper()
	feed := NewMemoryWebhookFeed(MemoryWebhookFeedParams{Wants: hookApps().WantsWebhook, VacatedDelay: delay, BatchWindow: 10 * time.Millisecond})
	o := NewMemoryOccupancy()
	o.NotifyWebhooks(feed)
	return o, feed, &hookRecorder{}
}

// A channel's first subscriber decides channel_occupied; a reload within the vacated delay
// decides nothing; the last one gone decides channel_vacated once the delay is over. A user's
// first and last connection on a presence channel decide member_added and member_removed.
func TestMemoryWebhookOccupancy(t *testing.T) {
	o, feed, r := newMemoryHooks(t, 150*time.Millisecond)
	runFeed(t, feed, r)
	ada := &Member{UserID: "7", RawID: json.RawMessage(`7`)}
	mustSubscribe(t, o, "app", "orders", "1.1", nil, false)
	mustSubscribe(t, o, "app", "orders", "1.2", nil, false)
	mustSubscribe(t, o, "app", "presence-room", "1.1", ada, true)
	mustSubscribe(t, o, "app", "presence-room", "1.2", ada, false)
	r.waitEvents(t, "app", []string{"channel_occupied orders", "subscription_count orders =1",
		"channel_occupied presence-room", "member_added presence-room 7"})

	// A reload: the last subscriber leaves and comes back within the delay.
	mustUnsubscribe(t, o, "app", "orders", "1.1", "", false)
	mustUnsubscribe(t, o, "app", "orders", "1.2", "", false)
	mustSubscribe(t, o, "app", "orders", "1.3", nil, false)
	time.Sleep(300 * time.Millisecond) // twice the delay
	mustUnsubscribe(t, o, "app", "presence-room", "1.1", "7", false)
	mustUnsubscribe(t, o, "app", "presence-room", "1.2", "7", true)
	mustUnsubscribe(t, o, "app", "orders", "1.3", "", false)
	r.waitEvents(t, "app", []string{"channel_occupied orders", "subscription_count orders =1",
		"channel_occupied presence-room", "member_added presence-room 7",
		"member_removed presence-room 7", "channel_vacated presence-room", "channel_vacated orders",
		"subscription_count orders =0"}) // the latest count, a second after the first
}

// An app without webhooks, or whose webhooks do not take a type, gets none of those events,
// from the occupancy or from Add, and the feed keeps nothing for it.
func TestMemoryWebhookUnwanted(t *testing.T) {
	o, feed, _ := newMemoryHooks(t, 10*time.Millisecond)
	ada := &Member{UserID: "7", RawID: json.RawMessage(`7`)}
	for _, app := range []string{"quiet", "members"} {
		mustSubscribe(t, o, app, "orders", "1.1", nil, false)
		mustUnsubscribe(t, o, app, "orders", "1.1", "", false)
		if err := feed.Add(context.Background(), app, WebhookEvent{Name: config.WebhookClientEvent, Channel: "private-x", Event: "client-a", Data: "{}"}); err != nil {
			t.Fatal(err)
		}
	}
	mustSubscribe(t, o, "quiet", "presence-room", "1.1", ada, true)
	mustUnsubscribe(t, o, "quiet", "presence-room", "1.1", "7", true)
	feed.mu.Lock()
	defer feed.mu.Unlock()
	if len(feed.apps) != 0 || len(feed.vacates) != 0 || len(feed.counts) != 0 {
		t.Errorf("the feed keeps %d queues, %d vacates, %d counts for apps without those webhooks", len(feed.apps), len(feed.vacates), len(feed.counts))
	}
}

// Batches close at BatchSize; a batch whose send failed is handed out again with the same ID,
// TimeMS and events, and the app's later batches wait for it.
func TestMemoryWebhookBatchRetried(t *testing.T) {
	feed := NewMemoryWebhookFeed(MemoryWebhookFeedParams{Wants: hookApps().WantsWebhook, BatchSize: 2, BatchWindow: time.Hour})
	feed.retry = 20 * time.Millisecond
	r := &hookRecorder{fail: errors.New("endpoint down")}
	runFeed(t, feed, r)
	ctx := context.Background()
	for _, ev := range []string{"client-a", "client-b", "client-c", "client-d"} {
		if err := feed.Add(ctx, "app", WebhookEvent{Name: config.WebhookClientEvent, Channel: "private-x", Event: ev, Data: "{}"}); err != nil {
			t.Fatal(err)
		}
	}
	waitHanded(t, r, 3)
	r.setFail(nil)
	waitEventsHanded(t, r, 4)
	checkRetried(t, r.handed(), 3)
}

// waitHanded waits until r was handed at least n batches.
func waitHanded(t *testing.T, r *hookRecorder, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(r.handed()) < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d batches handed out, want %d: %+v", len(r.handed()), n, r.handed())
		}
	}
}

// waitEventsHanded waits until the distinct batches handed to r hold n events.
func waitEventsHanded(t *testing.T, r *hookRecorder, n int) {
	t.Helper()
	count := func() int {
		seen, total := map[string]bool{}, 0
		for _, b := range r.handed() {
			if !seen[b.ID] {
				seen[b.ID] = true
				total += len(b.Events)
			}
		}
		return total
	}
	for deadline := time.Now().Add(10 * time.Second); count() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d events handed out, want %d: %+v", count(), n, r.handed())
		}
	}
}

// checkRetried checks the batches handed out while the first ones failed: the first batch
// handed at least failed times, the same (ID, TimeMS, events) each time, each batch handed
// in one run, and the distinct batches holding client-a to client-d in order.
func checkRetried(t *testing.T, got []WebhookBatch, failed int) {
	t.Helper()
	var events []string
	first := 0
	for i, b := range got {
		if b.ID == got[0].ID {
			first++
		}
		if i > 0 && b.ID == got[i-1].ID {
			if !reflect.DeepEqual(b, got[i-1]) {
				t.Errorf("batch %s handed again as %+v, was %+v", b.ID, b, got[i-1])
			}
			continue
		}
		for _, prev := range got[:i] {
			if prev.ID == b.ID {
				t.Errorf("batch %s handed out again after another batch of its app", b.ID)
			}
		}
		for _, ev := range b.Events {
			events = append(events, ev.Event)
		}
	}
	if first < failed {
		t.Errorf("the first batch was handed out %d times, want at least %d", first, failed)
	}
	if want := []string{"client-a", "client-b", "client-c", "client-d"}; !slices.Equal(events, want) {
		t.Errorf("events handed out %q, want %q in order", events, want)
	}
}

// A batch not done when Run stopped is the first one the next Run hands out, unchanged.
func TestMemoryWebhookRunAgain(t *testing.T) {
	feed := NewMemoryWebhookFeed(MemoryWebhookFeedParams{Wants: hookApps().WantsWebhook, BatchSize: 2, BatchWindow: time.Hour})
	addClientEvents(t, feed, "client-a", "client-b", "client-c", "client-d")
	first := &hookRecorder{fail: errors.New("endpoint down")}
	stop := runFeedStoppable(t, feed, first)
	waitHanded(t, first, 1)
	stop()
	second := &hookRecorder{}
	runFeed(t, feed, second)
	waitEventsHanded(t, second, 4)
	if got, failed := second.handed()[0], first.handed()[0]; !reflect.DeepEqual(got, failed) {
		t.Errorf("the next Run handed out %+v first, want the batch not done %+v", got, failed)
	}
	checkRetried(t, second.handed(), 1)
}
