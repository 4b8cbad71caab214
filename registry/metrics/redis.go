package metrics

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisHook is a go-redis hook that records each command's latency in
// redis_command_seconds; add it to a client with AddHook. A pipeline (or transaction) counts
// once, as command "pipeline".
func (m *Metrics) RedisHook() redis.Hook { return redisHook{m} }

type redisHook struct{ m *Metrics }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.m.redisCommands.WithLabelValues(cmd.Name()).Observe(time.Since(start).Seconds())
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		h.m.redisCommands.WithLabelValues("pipeline").Observe(time.Since(start).Seconds())
		return err
	}
}
