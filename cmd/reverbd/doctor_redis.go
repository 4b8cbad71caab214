package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// queueLatencyLimit is how long the oldest waiting event may wait before the queue counts as
// not keeping up.
const queueLatencyLimit = 5 * time.Second

// checkRedisQueue checks Redis when the configuration uses it (the redis queue or scaling):
// it answers PING, and with the redis queue, some asynq server consumes the broadcasts
// queue and the queue is not backed up.
func checkRedisQueue(ctx context.Context, d *diagnosis) outcome {
	cfg := d.cfg
	if cfg.QueueConnection != "redis" && !cfg.ScalingEnabled {
		return notApplicable("not used: REVERB_QUEUE_CONNECTION=memory and REVERB_SCALING_ENABLED is off")
	}
	setting, check := redisSetting(cfg)
	opt, err := cfg.RedisUniversalOptions()
	if err != nil {
		return fail(err.Error(), "correct the Redis settings named above")
	}
	opt.MaxRetries = -1
	rdb := redis.NewUniversalClient(opt)
	defer rdb.Close()
	pingCtx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		return fail(fmt.Sprintf("Redis (%s) does not answer PING: %v; while it is away reverbd answers triggers and /up with 503", setting, err),
			"check "+check)
	}
	if cfg.QueueConnection != "redis" {
		return ok("Redis (%s) answers PING", setting)
	}
	return checkQueueConsumed(d, rdb, setting)
}

// checkQueueConsumed lists the asynq servers that consume the broadcasts queue, and the
// queue's backlog.
func checkQueueConsumed(d *diagnosis, rdb redis.UniversalClient, setting string) outcome {
	queue := d.cfg.AsynqQueue()
	ins := asynq.NewInspectorFromRedisClient(rdb)
	servers, err := ins.Servers()
	if err != nil {
		return fail(fmt.Sprintf("Redis (%s) answers, but listing the asynq servers failed: %v", setting, err), "check the Redis user's permissions (REDIS_USERNAME)")
	}
	var consumers []string
	for _, s := range servers {
		if _, ok := s.Queues[queue]; ok {
			consumers = append(consumers, fmt.Sprintf("%s pid %d", s.Host, s.PID))
		}
	}
	sort.Strings(consumers)
	if len(consumers) == 0 {
		return fail(fmt.Sprintf("Redis (%s) answers, but no process consumes the asynq queue %q: triggers are accepted and never delivered", setting, queue),
			"run the delivery workers: reverbd start with REVERB_QUEUE_WORKERS=true (the default), or reverbd worker; every process must share REVERB_QUEUE_NAME and REVERB_SCALING_PREFIX")
	}
	backlog := "empty"
	info, err := ins.GetQueueInfo(queue)
	switch {
	case errors.Is(err, asynq.ErrQueueNotFound):
		// Nothing was ever queued under this name.
	case err != nil:
		return fail(fmt.Sprintf("Redis (%s) answers, but reading the queue %q failed: %v", setting, queue, err), "check the Redis user's permissions (REDIS_USERNAME)")
	case info.Latency > queueLatencyLimit:
		return fail(fmt.Sprintf("the asynq queue %q is consumed by %s, but its oldest event has waited %s (%d pending)", queue, strings.Join(consumers, ", "), info.Latency.Round(time.Millisecond), info.Pending),
			"the workers do not keep up: raise REVERB_QUEUE_CONCURRENCY or run more workers (reverbd worker), and check their logs")
	default:
		backlog = fmt.Sprintf("%d pending", info.Pending)
	}
	return ok("Redis (%s) answers PING; the asynq queue %q is consumed by %s; backlog %s", setting, queue, strings.Join(consumers, ", "), backlog)
}
