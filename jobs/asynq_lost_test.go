package jobs_test

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/redistest"
)

// holdQueueEnv, set, makes the test binary a worker process that holds one delivery of that
// queue forever (see holdDelivery).
const holdQueueEnv = "JOBS_TEST_HOLD_QUEUE"

func TestMain(m *testing.M) {
	if name := os.Getenv(holdQueueEnv); name != "" {
		holdDelivery(name)
		return
	}
	os.Exit(m.Run())
}

// blocker is a Deliverer whose delivery never returns; it says "holding" on stdout first.
type blocker struct{ once sync.Once }

func (b *blocker) Deliver(ctx context.Context, _ registry.Event) {
	b.once.Do(func() { os.Stdout.WriteString("holding\n") })
	select {}
}

// holdDelivery runs an asynq worker on the queue name of REDIS_URL until the process is killed.
func holdDelivery(name string) {
	opt, err := redis.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		panic(err)
	}
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: &blocker{}, Rules: rules})
	q := jobs.NewAsynqQueue(jobs.AsynqParams{Redis: redis.NewClient(opt), Worker: w, Rules: rules, Queue: name, PollInterval: 5 * time.Millisecond})
	_ = q.Run(context.Background())
}

// killHolder starts a worker process on queue name, enqueues one event, waits until the
// process holds its delivery, and kills it (kill -9). It returns the held task's id.
func killHolder(t *testing.T, rdb *redis.Client, name string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdQueueEnv+"="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ins := asynq.NewInspectorFromRedisClient(rdb)
	t.Cleanup(func() {
		_ = ins.DeleteQueue(name, true)
		keys, _ := rdb.Keys(context.Background(), name+":lost:*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	enq := jobs.NewAsynqQueue(jobs.AsynqParams{Redis: rdb, Worker: jobs.NewWorker(jobs.WorkerParams{Rules: rules}), Rules: rules, Queue: name, EnqueueOnly: true})
	ev := registry.Event{AppID: "1", Channels: []string{"orders"}, Name: "order.held", Data: "{}", QueuedAt: time.Now()}
	if err := enq.Enqueue(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	held := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		held <- strings.TrimSpace(line) == "holding"
	}()
	select {
	case ok := <-held:
		if !ok {
			t.Fatal("the worker process ended without holding the delivery")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker process never took the delivery")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	active, err := ins.ListActiveTasks(name)
	if err != nil || len(active) != 1 {
		t.Fatalf("active tasks after the kill: %d (%v), want the held one", len(active), err)
	}
	return active[0].ID
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// watcher is a queue of this process on name that runs no worker (or, with workers, one that
// delivers nowhere), logging to a buffer.
func watcher(t *testing.T, rdb *redis.Client, name string, workers bool, lostAfter time.Duration) (*jobs.AsynqQueue, *jobs.Worker, *lockedBuffer) {
	t.Helper()
	var logs lockedBuffer
	w := jobs.NewWorker(jobs.WorkerParams{Deliverer: newRecorder(), Rules: rules})
	q := jobs.NewAsynqQueue(jobs.AsynqParams{
		Redis: rdb, Worker: w, Rules: rules, Queue: name, EnqueueOnly: !workers, LostAfter: lostAfter,
		PollInterval: 5 * time.Millisecond, ShutdownTimeout: time.Second, Log: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	return q, w, &logs
}

func waitLost(t *testing.T, w *jobs.Worker, logs *lockedBuffer) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); w.Stats().Lost == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the lost delivery was not counted; log:\n%s", logs)
		}
	}
	if n := w.Stats().Lost; n != 1 {
		t.Errorf("lost = %d, want 1", n)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "deliveries lost") || !strings.Contains(l, "order.held") {
		t.Errorf("no warning naming the lost delivery; log:\n%s", l)
	}
}

// A delivery held by a worker whose process is killed is never made (one try is the rule);
// another process of the queue finds it lost long before asynq archives it, counts it and
// logs a warning, and no other process counts it again.
func TestAsynqQueueReportsLostDelivery(t *testing.T) {
	rdb := redistest.Client(t)
	name := redistest.Name(t)
	killHolder(t, rdb, name)
	q, w, logs := watcher(t, rdb, name, false, time.Second)
	run(t, q)
	waitLost(t, w, logs)

	other, ow, _ := watcher(t, rdb, name, false, 100*time.Millisecond)
	run(t, other)
	time.Sleep(3 * time.Second) // a few checks of the other process
	if n := ow.Stats().Lost; n != 0 {
		t.Errorf("another process counted the same lost delivery again (%d)", n)
	}
}

// A lost delivery that no process found before asynq archived it (every process was down
// past its lease) is reported by the archive sweep.
func TestAsynqQueueReportsArchivedLostDelivery(t *testing.T) {
	rdb := redistest.Client(t)
	name := redistest.Name(t)
	id := killHolder(t, rdb, name)
	// The lease ran out long ago, as if the processes had been down for minutes: asynq's
	// recoverer archives the task when a server starts.
	lease := "asynq:{" + name + "}:lease"
	if err := rdb.ZAdd(context.Background(), lease, redis.Z{Member: id, Score: float64(time.Now().Add(-2 * time.Minute).Unix())}).Err(); err != nil {
		t.Fatal(err)
	}
	q, w, logs := watcher(t, rdb, name, true, time.Hour)
	run(t, q)
	ins := asynq.NewInspectorFromRedisClient(rdb)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if tasks, _ := ins.ListArchivedTasks(name); len(tasks) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("asynq did not archive the task whose lease expired")
		}
	}
	q.SweepArchive()
	waitLost(t, w, logs)
	if tasks, _ := ins.ListArchivedTasks(name); len(tasks) != 0 {
		t.Errorf("%d archived tasks left after the sweep", len(tasks))
	}
}
