package ws_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	rws "github.com/reverbd/reverbd/ws"
)

// A cache channel's subscriber sees subscription_succeeded, then at most one cached event (or
// pusher:cache_miss), then live events, each event once and never an older one after a newer
// one, while triggers race the subscribe. Triggers go through the real delivery path: a
// jobs.Worker stores the cache and hands the event to the Hub, as the queues do.
func TestCacheChannelOrderWhileTriggering(t *testing.T) {
	e := newEnv(t, rws.Params{})
	worker := cacheWorker(e)
	const (
		iterations  = 300
		subscribers = 3
		events      = 8
	)
	clients := make([]*client, subscribers)
	for i := range clients {
		clients[i] = e.connect(t)
	}
	for it := range iterations {
		channel := fmt.Sprintf("cache-race.%d", it)
		// Some iterations start with an event already cached.
		triggerWhileSubscribing(t, worker, channel, events, it%2 == 1, func() {
			for _, c := range clients {
				c.send(subscribeMsg(channel, "", ""))
			}
		})
		for i, c := range clients {
			checkCacheStream(t, c, channel, events, fmt.Sprintf("iteration %d, client %d", it, i))
		}
	}
}

// cacheWorker is a jobs.Worker that stores e's cache and hands events to e's Hub, as the
// queues' workers do.
func cacheWorker(e *env) *jobs.Worker {
	return jobs.NewWorker(jobs.WorkerParams{
		Deliverer: e.srv.Hub(), Cache: e.cache, CacheTTL: time.Minute,
		Rules: jobs.Rules{Timeout: 5 * time.Second, Deadline: time.Minute},
	})
}

// triggerWhileSubscribing triggers events 1 to last on channel through w, event 1 before
// subscribe runs when cachedFirst, the others while it runs, and returns when both are done.
func triggerWhileSubscribing(t *testing.T, w *jobs.Worker, channel string, last int, cachedFirst bool, subscribe func()) {
	t.Helper()
	first := 1
	if cachedFirst {
		trigger(t, w, channel, 1)
		first = 2
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := first; n <= last; n++ {
			trigger(t, w, channel, n)
		}
	})
	subscribe()
	wg.Wait()
}

// trigger runs event number n on channel through the worker, as a queue would.
func trigger(t *testing.T, w *jobs.Worker, channel string, n int) {
	t.Helper()
	ev := registry.Event{AppID: "3", Channels: []string{channel}, Name: "tick", Data: strconv.Itoa(n), QueuedAt: time.Now()}
	if err := w.Process(context.Background(), ev); err != nil {
		t.Error(err)
	}
}

// checkCacheStream reads c's frames on channel up to event number last and checks their order.
func checkCacheStream(t *testing.T, c *client, channel string, last int, what string) {
	t.Helper()
	f := c.read()
	if f.Event != "pusher_internal:subscription_succeeded" || f.Channel != channel {
		t.Fatalf("%s: first frame %s on %q, want subscription_succeeded on %s", what, f.Event, f.Channel, channel)
	}
	prev := 0
	var seen []string
	for i := 0; prev < last; i++ {
		f := c.read()
		if f.Channel != channel {
			t.Fatalf("%s: frame on %q, want %s", what, f.Channel, channel)
		}
		if f.Event == "pusher:cache_miss" {
			if i != 0 {
				t.Fatalf("%s: cache_miss after %v", what, seen)
			}
			seen = append(seen, "miss")
			continue
		}
		n, err := strconv.Atoi(f.dataString(t))
		if f.Event != "tick" || err != nil {
			t.Fatalf("%s: unexpected frame %+v", what, f)
		}
		seen = append(seen, strconv.Itoa(n))
		if n <= prev {
			t.Fatalf("%s: event %d after %d (stream %v)", what, n, prev, seen)
		}
		prev = n
	}
}

// The same order holds on presence cache channels, whose subscribe also reads the member
// list while the channel's frames are held for the subscriber.
func TestPresenceCacheChannelOrderWhileTriggering(t *testing.T) {
	e := newEnv(t, rws.Params{})
	worker := cacheWorker(e)
	const events = 8
	c := e.connect(t)
	for it := range 200 {
		channel := fmt.Sprintf("presence-cache-race.%d", it)
		triggerWhileSubscribing(t, worker, channel, events, it%2 == 1, func() {
			data := `{"user_id":"1"}`
			c.send(subscribeMsg(channel, sign(c.socketID+":"+channel+":"+data), data))
		})
		checkCacheStream(t, c, channel, events, fmt.Sprintf("iteration %d", it))
	}
}
