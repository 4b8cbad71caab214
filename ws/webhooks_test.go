package ws_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
	rws "github.com/reverbd/reverbd/ws"
)

// hookFeed records the events added to it; with fail set, Add fails.
type hookFeed struct {
	mu   sync.Mutex
	evs  []registry.WebhookEvent
	fail bool
}

func (f *hookFeed) Add(_ context.Context, appID string, evs ...registry.WebhookEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("redis is away")
	}
	for _, ev := range evs {
		if appID != "3" {
			ev.Name = "wrong app " + appID
		}
		f.evs = append(f.evs, ev)
	}
	return nil
}

func (f *hookFeed) Run(ctx context.Context, _ func(context.Context, registry.WebhookBatch) error) error {
	<-ctx.Done()
	return nil
}

// wait returns the first n events added, failing the test after 5 s.
func (f *hookFeed) wait(t *testing.T, n int) []registry.WebhookEvent {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		f.mu.Lock()
		if len(f.evs) >= n {
			evs := slices.Clone(f.evs[:n])
			f.mu.Unlock()
			return evs
		}
		f.mu.Unlock()
	}
	t.Fatalf("%d webhook events added, want %d", len(f.added()), n)
	return nil
}

func (f *hookFeed) added() []registry.WebhookEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.evs)
}

// Each relayed client event adds a client_event webhook (data as a string, the sender's
// socket_id, the user_id on presence channels), and a cache channel subscribe that finds
// nothing cached adds cache_miss, when the app's webhooks take them.
func TestWebhookEventsAdded(t *testing.T) {
	feed := &hookFeed{}
	app := testApp()
	app.Webhooks = []config.Webhook{{URL: "https://example.com/hook", EventTypes: []string{config.WebhookClientEvent, config.WebhookCacheMiss}}}
	e := newEnv(t, rws.Params{Webhooks: feed}, app)
	a, b := e.connect(t), e.connect(t)
	a.subscribe("private-chat", "")
	b.subscribe("private-chat", "")
	a.subscribe("presence-room", `{"user_id":"7"}`)
	b.subscribe("presence-room", `{"user_id":"9"}`)
	a.read() // member_added

	a.sendRaw([]byte(`{"event":"client-typing","channel":"private-chat","data":{"typing":true,"n":1.50}}`))
	b.read()
	a.sendRaw([]byte(`{"event":"client-typing","channel":"presence-room","data":"plain \"string\""}`))
	b.read()
	b.send(subscribeMsg("cache-prices", "", ""))
	if f := b.read(); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("b got %+v", f)
	}
	if f := b.read(); f.Event != "pusher:cache_miss" {
		t.Fatalf("b got %+v, want pusher:cache_miss", f)
	}
	got := feed.wait(t, 3)
	want := []registry.WebhookEvent{
		{Name: "client_event", Channel: "private-chat", Event: "client-typing", Data: `{"typing":true,"n":1.50}`, SocketID: a.socketID},
		{Name: "client_event", Channel: "presence-room", Event: "client-typing", Data: `plain "string"`, SocketID: a.socketID, UserID: "7"},
		{Name: "cache_miss", Channel: "cache-prices"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("webhook events\n%+v\nwant\n%+v", got, want)
	}

	// A feed that fails loses the webhook, never the client event.
	feed.mu.Lock()
	feed.fail = true
	feed.mu.Unlock()
	a.sendRaw([]byte(`{"event":"client-x","channel":"private-chat","data":{}}`))
	if f := b.read(); f.Event != "client-x" {
		t.Errorf("b got %+v, want the client event relayed while the feed fails", f)
	}
}

// An app whose webhooks do not take client_event or cache_miss adds nothing.
func TestWebhookEventsNotWanted(t *testing.T) {
	feed := &hookFeed{}
	app := testApp()
	app.Webhooks = []config.Webhook{{URL: "https://example.com/hook", EventTypes: []string{config.WebhookChannelOccupied}}}
	e := newEnv(t, rws.Params{Webhooks: feed}, app)
	a, b := e.connect(t), e.connect(t)
	a.subscribe("private-chat", "")
	b.subscribe("private-chat", "")
	a.sendRaw([]byte(`{"event":"client-typing","channel":"private-chat","data":{}}`))
	b.read()
	b.send(subscribeMsg("cache-prices", "", ""))
	b.read()
	if f := b.read(); f.Event != "pusher:cache_miss" {
		t.Fatalf("b got %+v", f)
	}
	b.send(map[string]any{"event": "pusher:ping"})
	b.read()
	if evs := feed.added(); len(evs) != 0 {
		t.Errorf("added %+v, want nothing", evs)
	}
}
