package jobs_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/redistest"
)

// asynqQueue returns an AsynqQueue on REDIS_URL with a queue of its own, removed with the test.
func asynqQueue(t *testing.T, w *jobs.Worker) (*jobs.AsynqQueue, *asynq.Inspector, string) {
	t.Helper()
	rdb := redistest.Client(t)
	name := redistest.Name(t)
	q := jobs.NewAsynqQueue(jobs.AsynqParams{
		Redis: rdb, Worker: w, Rules: rules, Queue: name, Concurrency: 1,
		PollInterval: 5 * time.Millisecond, ShutdownTimeout: time.Second,
	})
	ins := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() {
		_ = ins.DeleteQueue(name, true)
		_ = ins.Close()
	})
	return q, ins, name
}

// backends runs f against each queue backend, as the issue asks: the same rules everywhere.
func backends(t *testing.T, f func(t *testing.T, newQueue func(*jobs.Worker) jobs.Queue)) {
	t.Run("memory", func(t *testing.T) {
		f(t, func(w *jobs.Worker) jobs.Queue { return jobs.NewMemoryQueue(w, 4, 1024) })
	})
	t.Run("asynq", func(t *testing.T) {
		f(t, func(w *jobs.Worker) jobs.Queue { q, _, _ := asynqQueue(t, w); return q })
	})
}

func TestBackendsKeepChannelOrder(t *testing.T) {
	backends(t, func(t *testing.T, newQueue func(*jobs.Worker) jobs.Queue) {
		rec := newRecorder()
		w := jobs.NewWorker(jobs.WorkerParams{Deliverer: rec, Rules: rules})
		q := newQueue(w)
		run(t, q)
		names := []string{"order.paid", "order.shipped", "order.refunded"}
		for range 20 {
			for _, n := range names {
				ev := registry.Event{AppID: "1", Channels: []string{"private-tenant.1"}, Name: n, Data: `{"id":1}`, QueuedAt: time.Now()}
				if err := q.Enqueue(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		got := rec.wait(t, 60)
		for i, ev := range got {
			if ev.Name != names[i%3] || ev.Data != `{"id":1}` || ev.Channels[0] != "private-tenant.1" {
				t.Fatalf("delivery %d = %+v, want %s in order", i, ev, names[i%3])
			}
		}
	})
}

func TestBackendsDiscardStaleEvents(t *testing.T) {
	backends(t, func(t *testing.T, newQueue func(*jobs.Worker) jobs.Queue) {
		rec := newRecorder()
		w := jobs.NewWorker(jobs.WorkerParams{Deliverer: rec, Rules: rules})
		q := newQueue(w)
		run(t, q)
		old := registry.Event{AppID: "1", Channels: []string{"a"}, Name: "old", Data: "{}", QueuedAt: time.Now().Add(-2 * time.Minute)}
		fresh := registry.Event{AppID: "1", Channels: []string{"a"}, Name: "fresh", Data: "{}", QueuedAt: time.Now()}
		for _, ev := range []registry.Event{old, fresh} {
			if err := q.Enqueue(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		if got := rec.wait(t, 1); got[0].Name != "fresh" {
			t.Fatalf("delivered %+v, want only the fresh event", got)
		}
		waitFor(t, func() bool { s := w.Stats(); return s.Stale == 1 && s.Delivered == 1 })
	})
}

// Task options as asynq stores them, read back with its Inspector while the queue is paused.
func TestAsynqTaskOptions(t *testing.T) {
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: newRecorder(), Rules: rules})
	q, ins, name := asynqQueue(t, w)
	if err := ins.PauseQueue(name); err != nil {
		t.Fatal(err)
	}
	queued := time.Now()
	ev := registry.Event{AppID: "1", Channels: []string{"a"}, Name: "e", Data: "{}", QueuedAt: queued}
	if err := q.Enqueue(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	tasks, err := ins.ListPendingTasks(name)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("pending = %v, %v; want 1 task", tasks, err)
	}
	ti := tasks[0]
	if ti.Type != jobs.TaskBroadcast || ti.Queue != name || ti.MaxRetry != 0 || ti.Timeout != 30*time.Second {
		t.Errorf("task = type %s queue %s MaxRetry %d Timeout %v", ti.Type, ti.Queue, ti.MaxRetry, ti.Timeout)
	}
	if want := queued.Add(60 * time.Second).Truncate(time.Second); !ti.Deadline.Equal(want) {
		t.Errorf("deadline = %v, want %v (queued + 60 s, whole seconds)", ti.Deadline, want)
	}
}

// Thousands of stale tasks leave nothing behind in Redis: asynq archives expired tasks and
// the queue deletes its archive.
func TestAsynqStaleTasksDoNotPileUp(t *testing.T) {
	rec := newRecorder()
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: rec, Rules: rules})
	q, ins, name := asynqQueue(t, w)
	const n = 3000
	old := time.Now().Add(-2 * time.Minute)
	for i := range n {
		ev := registry.Event{AppID: "1", Channels: []string{"a"}, Name: "old", Data: `{"i":` + string(rune('0'+i%10)) + `}`, QueuedAt: old}
		if err := q.Enqueue(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	run(t, q)
	waitFor(t, func() bool { return w.Stats().Stale == n })
	q.SweepArchive()
	info, err := ins.GetQueueInfo(name)
	if err != nil {
		t.Fatal(err)
	}
	if info.Pending+info.Active+info.Archived+info.Retry+info.Completed != 0 {
		t.Errorf("queue still holds tasks: %+v", info)
	}
	if s := w.Stats(); s.Delivered != 0 {
		t.Errorf("stale events delivered: %+v", s)
	}
	keys, err := redistest.Client(t).Keys(context.Background(), "asynq:{"+name+"}:t:*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("%d task keys left in Redis (%v)", len(keys), err)
	}
}

func TestAsynqEnqueueFailsWhenRedisIsDown(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + itoa(srv.Port), MaxRetries: -1})
	defer rdb.Close()
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: newRecorder(), Rules: rules})
	q := jobs.NewAsynqQueue(jobs.AsynqParams{Redis: rdb, Worker: w, Rules: rules, Queue: "down", PollInterval: 5 * time.Millisecond})
	ev := registry.Event{AppID: "1", Channels: []string{"a"}, Name: "e", Data: "{}", QueuedAt: time.Now()}
	if err := q.Enqueue(context.Background(), ev); err != nil {
		t.Fatalf("with Redis up: %v", err)
	}
	srv.Stop()
	if err := q.Enqueue(context.Background(), ev); err == nil {
		t.Fatal("Enqueue succeeded with Redis down")
	}
	srv.Start()
	waitFor(t, func() bool { return q.Enqueue(context.Background(), ev) == nil })
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(context.Background(), ev); !errors.Is(err, jobs.ErrQueueClosed) {
		t.Errorf("after Shutdown: %v, want ErrQueueClosed", err)
	}
}

// waitFor polls cond until it holds; the 30 s limit exists only to fail.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// With DrainOnShutdown, Shutdown delivers every task still pending before it stops the
// workers, as the memory queue does: a trigger accepted before a stop reaches the clients.
func TestAsynqShutdownDeliversWhatIsQueued(t *testing.T) {
	rec := newRecorder()
	block := make(chan struct{})
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: gate{block, rec}, Rules: rules})
	rdb := redistest.Client(t)
	name := redistest.Name(t)
	q := jobs.NewAsynqQueue(jobs.AsynqParams{
		Redis: rdb, Worker: w, Rules: rules, Queue: name, Concurrency: 1,
		PollInterval: 5 * time.Millisecond, ShutdownTimeout: time.Second, DrainOnShutdown: true,
	})
	ins := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() { _ = ins.DeleteQueue(name, true); _ = ins.Close() })
	run(t, q)
	const n = 10
	for i := range n {
		ev := registry.Event{AppID: "1", Channels: []string{"a"}, Name: itoa(i), Data: "{}", QueuedAt: time.Now()}
		if err := q.Enqueue(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	// The first task is held in delivery, the others wait in Redis.
	waitFor(t, func() bool {
		info, err := ins.GetQueueInfo(name)
		return err == nil && info.Active == 1 && info.Pending == n-1
	})
	done := make(chan error, 1)
	go func() { done <- q.Shutdown(context.Background()) }()
	close(block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := rec.wait(t, n); len(got) != n {
		t.Errorf("delivered %d of %d queued events", len(got), n)
	}
}
