package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCache is the Cache of a cluster: the last event of each cache channel is one Redis key
// with the cache TTL, so every node serves it, whether or not anyone was subscribed when it
// was triggered. Keys: {prefix}:app:{app_id}:cache:{channel}.
type RedisCache struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisCache returns a Cache on rdb whose keys start with prefix.
func NewRedisCache(rdb redis.UniversalClient, prefix string) *RedisCache {
	return &RedisCache{rdb: rdb, prefix: prefix}
}

func (c *RedisCache) key(appID, channel string) string {
	return c.prefix + ":app:" + appID + ":cache:" + channel
}

// redisCached is how a CachedEvent is stored.
type redisCached struct {
	Event    string    `json:"event"`
	Data     string    `json:"data"`
	QueuedAt time.Time `json:"queued_at,omitzero"`
}

// Put implements Cache.
func (c *RedisCache) Put(ctx context.Context, appID, channel string, ev CachedEvent, ttl time.Duration) error {
	b, err := json.Marshal(redisCached(ev))
	if err != nil {
		return fmt.Errorf("registry: encode cached event: %w", err)
	}
	if err := c.rdb.Set(ctx, c.key(appID, channel), b, ttl).Err(); err != nil {
		return fmt.Errorf("registry: cache %s: %w", channel, err)
	}
	return nil
}

// Get implements Cache.
func (c *RedisCache) Get(ctx context.Context, appID, channel string) (CachedEvent, bool, error) {
	b, err := c.rdb.Get(ctx, c.key(appID, channel)).Bytes()
	if errors.Is(err, redis.Nil) {
		return CachedEvent{}, false, nil
	}
	if err != nil {
		return CachedEvent{}, false, fmt.Errorf("registry: cache %s: %w", channel, err)
	}
	var ev redisCached
	if err := json.Unmarshal(b, &ev); err != nil {
		return CachedEvent{}, false, fmt.Errorf("registry: decode cached event: %w", err)
	}
	return CachedEvent(ev), true, nil
}
