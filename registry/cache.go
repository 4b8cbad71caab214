package registry

import (
	"context"
	"sync"
	"time"
)

// CachedEvent is the last event triggered on a cache channel, as it was delivered.
type CachedEvent struct {
	Event string `json:"event"`
	Data  string `json:"data"`
	// QueuedAt is the event's Event.QueuedAt: with Event and Data it tells the cached event
	// apart from the same trigger arriving live, and orders it among the channel's events.
	// It is not part of the event's JSON (the HTTP API shows that).
	QueuedAt time.Time `json:"-"`
}

// Cache keeps the last event of each cache channel for a limited time (Pusher's WebSocket protocol docs).
// Implementations are safe for concurrent use.
type Cache interface {
	// Put stores ev as the last event of channel for ttl, replacing any earlier one.
	Put(ctx context.Context, appID, channel string, ev CachedEvent, ttl time.Duration) error
	// Get returns the last event of channel; ok is false when there is none or it expired.
	Get(ctx context.Context, appID, channel string) (ev CachedEvent, ok bool, err error)
}

// MemoryCache is the Cache of a single node, kept in process. Expired entries are removed
// when read and by a sweep that Put runs at most once a minute.
type MemoryCache struct {
	now func() time.Time

	mu        sync.Mutex
	entries   map[cacheKey]cacheEntry // guarded by mu
	lastSweep time.Time               // guarded by mu
}

type cacheKey struct{ app, channel string }

type cacheEntry struct {
	ev      CachedEvent
	expires time.Time
}

// NewMemoryCache returns an empty in-process Cache.
func NewMemoryCache() *MemoryCache {
	return &MemoryCache{now: time.Now, entries: map[cacheKey]cacheEntry{}}
}

// Put implements Cache.
func (c *MemoryCache) Put(_ context.Context, appID, channel string, ev CachedEvent, ttl time.Duration) error {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[cacheKey{appID, channel}] = cacheEntry{ev: ev, expires: now.Add(ttl)}
	if now.Sub(c.lastSweep) > time.Minute {
		c.lastSweep = now
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
	}
	return nil
}

// Get implements Cache.
func (c *MemoryCache) Get(_ context.Context, appID, channel string) (CachedEvent, bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{appID, channel}
	e, ok := c.entries[k]
	if !ok {
		return CachedEvent{}, false, nil
	}
	if !now.Before(e.expires) {
		delete(c.entries, k)
		return CachedEvent{}, false, nil
	}
	return e.ev, true, nil
}
