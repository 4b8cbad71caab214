package registry

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reverbd/reverbd/registry/redistest"
)

// BenchmarkConnectStorm is a reconnect storm on one node, Redis side only: conns goroutines
// (REVERBD_BENCH_CONNS, 19,000 by default) start at once, and each makes the calls of one
// reverbd-bench --storm client in turn, Connect then its three Subscribes (see stormNode),
// on a RedisOccupancy against a private redis-server. It reports the time until the last
// call returned (ms-all), each call's latency (ms-p50-call, ms-p99-call, ms-max-call), the
// scripts Redis ran, the round trips they took (pipelines, and calls sent alone) and Redis's
// CPU time.
func BenchmarkConnectStorm(b *testing.B) {
	conns := 19000
	if s := os.Getenv("REVERBD_BENCH_CONNS"); s != "" {
		conns, _ = strconv.Atoi(s)
	}
	srv := redistest.StartServer(b)
	rdb := srv.Client()
	ctx := context.Background()
	var all, cpu time.Duration
	var scripts int64
	var trips uint64
	var lat []time.Duration
	for i := range b.N {
		b.StopTimer()
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		o := NewRedisOccupancy(RedisOccupancyParams{Redis: rdb, Prefix: "reverbd", Relay: "reverbd:reverb", NodeID: "bench" + strconv.Itoa(i)})
		before, err := redistest.ReadStats(ctx, rdb)
		if err != nil {
			b.Fatal(err)
		}
		times := make([][4]time.Duration, conns)
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		for i := range conns {
			wg.Go(func() {
				<-start
				id, t := strconv.Itoa(i), strconv.Itoa(i/50)
				socket := id + "." + id
				m := &Member{UserID: id, RawID: json.RawMessage(id), Info: json.RawMessage(`{"id":` + id + `,"name":"User ` + id + `"}`)}
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				t0 := time.Now()
				err := o.Connect(cctx, "app", socket, 0)
				times[i][0] = time.Since(t0)
				for k, sub := range []struct {
					channel string
					member  *Member
				}{{"private-tenant." + t, nil}, {"private-user." + id, nil}, {"presence-tenant." + t, m}} {
					if err == nil {
						t0 = time.Now()
						_, err = o.Subscribe(cctx, "app", sub.channel, socket, sub.member, 0)
						times[i][k+1] = time.Since(t0)
					}
				}
				if err != nil {
					errs <- err
				}
			})
		}
		b.StartTimer()
		t0 := time.Now()
		close(start)
		wg.Wait()
		all += time.Since(t0)
		b.StopTimer()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		after, err := redistest.ReadStats(ctx, rdb)
		if err != nil {
			b.Fatal(err)
		}
		w := after.Since(before)
		scripts += w.Scripts()
		trips += o.calls.trips.Load()
		cpu += w.CPU
		for _, ts := range times {
			lat = append(lat, ts[:]...)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(all)/float64(b.N), "ms-all")
	b.ReportMetric(ms(lat[len(lat)/2]), "ms-p50-call")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "ms-p99-call")
	b.ReportMetric(ms(lat[len(lat)-1]), "ms-max-call")
	b.ReportMetric(float64(scripts)/float64(b.N), "scripts/op")
	b.ReportMetric(float64(trips)/float64(b.N), "round-trips/op")
	b.ReportMetric(ms(cpu)/float64(b.N), "ms-redis-cpu/op")
}
