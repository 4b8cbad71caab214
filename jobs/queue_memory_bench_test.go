package jobs_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
)

// counter is a Deliverer that counts channel deliveries and signals when it reaches want.
type counter struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *counter) Deliver(_ context.Context, ev registry.Event) {
	if c.n.Add(int64(len(ev.Channels))) == c.want {
		close(c.done)
	}
}

// BenchmarkMemoryQueue measures one trigger from Enqueue to its hand-over to the Deliverer,
// from GOMAXPROCS producers, over 64 channels, for events on one and on three channels.
func BenchmarkMemoryQueue(b *testing.B) {
	channels := make([]string, 64)
	for i := range channels {
		channels[i] = "private-tenant." + strconv.Itoa(i)
	}
	for _, workers := range []int{1, 4} {
		for _, per := range []int{1, 3} {
			b.Run(fmt.Sprintf("workers=%d/channels=%d", workers, per), func(b *testing.B) {
				c := &counter{want: int64(b.N * per), done: make(chan struct{})}
				w := jobs.NewWorker(jobs.WorkerParams{Deliverer: c, Rules: jobs.Rules{Timeout: time.Minute, Deadline: time.Hour}})
				q := jobs.NewMemoryQueue(w, workers, b.N)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go func() { _ = q.Run(ctx) }()
				now := time.Now()
				var seq atomic.Int64
				b.SetParallelism(1) // GOMAXPROCS producers
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := int(seq.Add(1))
						ev := registry.Event{AppID: "1", Name: "ev", Data: `{"id":1}`, QueuedAt: now,
							Channels: channels[i%(len(channels)-per+1):][:per:per]}
						if err := q.Enqueue(ctx, ev); err != nil {
							b.Error(err)
							return
						}
					}
				})
				if !b.Failed() {
					<-c.done
				}
			})
		}
	}
}
