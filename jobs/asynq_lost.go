package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reverbd/reverbd/registry"
)

// DefaultLostAfter is how long a broadcast task may stay active while no live asynq server
// lists it before it counts as lost. Every asynq server lists the tasks its workers run in a
// heartbeat every 5 s, so a task that no server listed through two heartbeats has no live
// worker: the process that held it died (kill -9, a crash, a lost machine).
const DefaultLostAfter = 10 * time.Second

// lostCheckInterval is how often active tasks are checked for a live worker.
const lostCheckInterval = time.Second

// lostMarkTTL keeps the mark that a lost task was reported, so that it is counted once
// across the cluster (every process checks) and again neither by the archive sweep nor
// after a restart.
const lostMarkTTL = 10 * time.Minute

// lostArchivePages bounds how many pages of the archive one sweep reads for lost tasks.
const lostArchivePages = 10

// lostWatch is the state of checkLost, owned by Run's goroutine.
type lostWatch struct {
	unlisted map[string]time.Time // active task id → when it was first seen unlisted
	reported map[string]bool      // active task ids already reported (until they leave)
}

// checkLost finds deliveries lost with a worker's process: active tasks that no live asynq
// server has listed for lostAfter. One try is the rule, so such a delivery is never retried;
// it is counted and logged (reportLost). Whether the worker made it just before it died
// cannot be told, so such a one counts as lost too. asynq itself archives such a task only about a
// minute after its 30 s lease has expired; SweepArchive reports what this check missed.
func (q *AsynqQueue) checkLost(ctx context.Context) {
	active, err := q.inspector.ListActiveTasks(q.queue, asynq.PageSize(1000))
	if err != nil {
		return // no queue yet, or Redis is away: the health check says so
	}
	if len(active) == 0 {
		clear(q.lost.unlisted)
		clear(q.lost.reported)
		return
	}
	servers, err := q.inspector.Servers()
	if err != nil {
		return
	}
	listed := map[string]bool{}
	for _, s := range servers {
		for _, w := range s.ActiveWorkers {
			listed[w.TaskID] = true
		}
	}
	now := time.Now()
	seen := make(map[string]bool, len(active))
	var lost []*asynq.TaskInfo
	for _, t := range active {
		seen[t.ID] = true
		if listed[t.ID] {
			delete(q.lost.unlisted, t.ID)
			continue
		}
		first, ok := q.lost.unlisted[t.ID]
		if !ok {
			q.lost.unlisted[t.ID] = now
			continue
		}
		if now.Sub(first) >= q.lostAfter && !q.lost.reported[t.ID] {
			q.lost.reported[t.ID] = true
			lost = append(lost, t)
		}
	}
	for id := range q.lost.unlisted {
		if !seen[id] {
			delete(q.lost.unlisted, id)
		}
	}
	for id := range q.lost.reported {
		if !seen[id] {
			delete(q.lost.reported, id)
		}
	}
	q.reportLost(ctx, lost, "its worker stopped while holding it")
}

// reportArchivedLost reports the archived tasks that asynq archived because their lease
// expired (their worker's process died) and that checkLost did not report: for instance
// when every process was down for longer than the lease.
func (q *AsynqQueue) reportArchivedLost(ctx context.Context) {
	var lost []*asynq.TaskInfo
	for page := 1; page <= lostArchivePages; page++ {
		tasks, err := q.inspector.ListArchivedTasks(q.queue, asynq.PageSize(1000), asynq.Page(page))
		if err != nil {
			break
		}
		for _, t := range tasks {
			if t.LastErr == asynq.ErrLeaseExpired.Error() {
				lost = append(lost, t)
			}
		}
		if len(tasks) < 1000 {
			break
		}
	}
	q.reportLost(ctx, lost, "its worker stopped while holding it; asynq archived it when its lease expired")
}

// reportLost counts and logs the lost tasks that no process reported before. A task is
// marked in Redis once reported, so it is counted once in the cluster.
func (q *AsynqQueue) reportLost(ctx context.Context, tasks []*asynq.TaskInfo, why string) {
	if len(tasks) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var events []string
	for _, t := range tasks {
		first, err := q.rdb.SetNX(ctx, q.queue+":lost:"+t.ID, "1", lostMarkTTL).Result()
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				q.log.Warn("a lost delivery could not be marked as reported; it may be reported again", "err", err)
			}
			first = true
		}
		if !first {
			continue // another process reported it
		}
		var ev registry.Event
		_ = json.Unmarshal(t.Payload, &ev)
		events = append(events, ev.AppID+" "+ev.Name)
	}
	if len(events) == 0 {
		return
	}
	n := len(events)
	q.worker.CountLost(n)
	if n > 20 {
		events = append(events[:20], "…")
	}
	q.log.Warn("deliveries lost: a worker's process died while holding them (one try is the rule: they are not retried; one the worker had just made before dying is counted too)", "count", n,
		"why", why, "events", events)
}
