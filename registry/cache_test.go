package registry_test

import (
	"context"
	"testing"
	"time"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/redistest"
)

// Both Cache implementations keep the last event per app and channel, and forget it after
// its TTL.
func TestCaches(t *testing.T) {
	ctx := context.Background()
	caches := map[string]func(t *testing.T) registry.Cache{
		"memory": func(*testing.T) registry.Cache { return registry.NewMemoryCache() },
		"redis": func(t *testing.T) registry.Cache {
			rdb := redistest.Client(t)
			prefix := redistest.Name(t)
			t.Cleanup(func() {
				keys, _ := rdb.Keys(context.Background(), prefix+":*").Result()
				if len(keys) > 0 {
					rdb.Del(context.Background(), keys...)
				}
			})
			return registry.NewRedisCache(rdb, prefix)
		},
	}
	for name, newCache := range caches {
		t.Run(name, func(t *testing.T) {
			c := newCache(t)
			if _, ok, err := c.Get(ctx, "1", "cache-x"); ok || err != nil {
				t.Fatalf("empty cache: ok %v err %v", ok, err)
			}
			queuedAt := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
			for _, data := range []string{`{"v":1}`, `{"v":2,"s":"Zoë <&>"}`} {
				queuedAt = queuedAt.Add(time.Nanosecond)
				if err := c.Put(ctx, "1", "cache-x", registry.CachedEvent{Event: "price.updated", Data: data, QueuedAt: queuedAt}, time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			ev, ok, err := c.Get(ctx, "1", "cache-x")
			if err != nil || !ok || ev.Event != "price.updated" || ev.Data != `{"v":2,"s":"Zoë <&>"}` || !ev.QueuedAt.Equal(queuedAt) {
				t.Errorf("Get = %+v %v %v, want the last event", ev, ok, err)
			}
			if _, ok, _ := c.Get(ctx, "2", "cache-x"); ok {
				t.Error("an app sees another app's cache")
			}
		})
	}
	t.Run("redis ttl", func(t *testing.T) {
		c := caches["redis"](t)
		if err := c.Put(ctx, "1", "cache-y", registry.CachedEvent{Event: "e", Data: "1"}, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, ok, _ := c.Get(ctx, "1", "cache-y"); !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("entry outlived its TTL")
			}
		}
	})
}
