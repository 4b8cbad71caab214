package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/registry/redistest"
)

// stormNode gives o the connections of a reconnect storm, as reverbd-bench --storm makes
// them: socket i is user i of tenant t = i / 50, subscribed to private-tenant.{t},
// private-user.{i} and presence-tenant.{t}.
func stormNode(b *testing.B, o *RedisOccupancy, conns int) {
	b.Helper()
	ctx := context.Background()
	const workers, tenantSize = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < conns; i += workers {
				id, t := strconv.Itoa(i), strconv.Itoa(i/tenantSize)
				socket := id + "." + id
				m := &Member{UserID: id, RawID: json.RawMessage(id), Info: json.RawMessage(`{"id":` + id + `,"name":"User ` + id + `"}`)}
				err := o.Connect(ctx, "app", socket, 0)
				for _, sub := range []struct {
					channel string
					member  *Member
				}{{"private-tenant." + t, nil}, {"private-user." + id, nil}, {"presence-tenant." + t, m}} {
					if err == nil {
						_, err = o.Subscribe(ctx, "app", sub.channel, socket, sub.member, 0)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkReassert19000 is the write-back of a node holding 19,000 connections, each on
// three channels (57,000 subscriptions, 19,000 presence members in 380 channels of 50), into
// a Redis that lost everything (FLUSHALL of a private redis-server): the time from the first
// command to the node's state being whole again. It leaves out what the server adds around
// it: noticing the loss (the next lease renewal, LeaseTTL/3 at most) and announcing the
// members it adds back. Besides the time it reports the longest single Redis command of the
// write-back (ms-longest-cmd, from the slow log: a script is one command, however many
// commands it runs) and the median script (ms-median-script), the longest PING of another
// client, sent every millisecond meanwhile (ms-max-ping), the redis-server's CPU time
// (ms-redis-cpu/op), what Redis ran (scripts/op; redis-cmds/op counts the commands the
// scripts run too, not the PINGs) and the members the write-back adds back
// (members-added/op), each of which the scripts publish as a member event.
//
// Timing figures on a machine shared with other work vary with it: run it with -count.
func BenchmarkReassert19000(b *testing.B) {
	const conns = 19000
	srv := redistest.StartServer(b)
	rdb, pinger := srv.Client(), srv.Client()
	ctx := context.Background()
	// The member events go out on the relay's channel, as on a cluster node.
	o := NewRedisOccupancy(RedisOccupancyParams{Redis: rdb, Prefix: "reverbd", Relay: "reverbd:reverb", NodeID: "bench"})
	stormNode(b, o, conns)
	if err := rdb.ConfigSet(ctx, "slowlog-log-slower-than", "100").Err(); err != nil { // µs
		b.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "slowlog-max-len", "100000").Err(); err != nil {
		b.Fatal(err)
	}

	var longest, ping time.Duration
	var longestName string
	var medians []time.Duration // of each write-back's scripts
	var cpu time.Duration
	var scripts, commands int64
	var announced int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for _, err := range []error{rdb.FlushAll(ctx).Err(), rdb.SlowLogReset(ctx).Err()} {
			if err != nil {
				b.Fatal(err)
			}
		}
		before, err := redistest.ReadStats(ctx, rdb)
		if err != nil {
			b.Fatal(err)
		}
		stopPing := redistest.WatchLatency(pinger, time.Millisecond)
		b.StartTimer()

		st, err := o.reassert(ctx)
		announced += st.added

		b.StopTimer()
		p, _ := stopPing()
		if err != nil {
			b.Fatal(err)
		}
		after, err := redistest.ReadStats(ctx, rdb)
		if err != nil {
			b.Fatal(err)
		}
		w := after.Since(before)
		scripts, commands = scripts+w.Scripts(), commands+w.Commands-w.Calls["ping"]
		ping = max(ping, p)
		slow, err := redistest.ReadSlow(ctx, rdb)
		if err != nil {
			b.Fatal(err)
		}
		if slow.Longest > longest {
			longest, longestName = slow.Longest, slow.LongestName
		}
		medians = append(medians, redistest.Median(slow.Scripts))
		cpu += w.CPU
		checkStormNode(b, o, rdb, conns, st)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(longest.Microseconds())/1000, "ms-longest-cmd")
	b.ReportMetric(float64(ping.Microseconds())/1000, "ms-max-ping")
	slices.Sort(medians)
	b.ReportMetric(float64(redistest.Median(medians).Microseconds())/1000, "ms-median-script")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "ms-redis-cpu/op")
	b.ReportMetric(float64(scripts)/float64(b.N), "scripts/op")
	b.ReportMetric(float64(commands)/float64(b.N), "redis-cmds/op")
	b.ReportMetric(float64(announced)/float64(b.N), "members-added/op")
	b.Logf("longest command: %s", longestName)
}

// checkStormNode fails b unless Redis holds the whole storm node again.
func checkStormNode(b *testing.B, o *RedisOccupancy, rdb *redis.Client, conns int, st reassertStats) {
	b.Helper()
	ctx := context.Background()
	if st.sockets != conns || st.subscriptions != 3*conns {
		b.Fatalf("wrote back %d connections and %d subscriptions, want %d and %d", st.sockets, st.subscriptions, conns, 3*conns)
	}
	n, err := o.Connections(ctx, "app")
	if err != nil || n != conns {
		b.Fatalf("Connections = %d, %v; want %d", n, err, conns)
	}
	chs, err := o.Channels(ctx, "app", "")
	if want := conns + 2*((conns+49)/50); err != nil || len(chs) != want {
		b.Fatalf("%d channels, %v; want %d", len(chs), err, want)
	}
	last := fmt.Sprint("presence-tenant.", (conns-1)/50)
	if info := chs[last]; info.UserCount != conns-(conns-1)/50*50 {
		b.Fatalf("%s: %+v", last, info)
	}
	if ok, err := rdb.Exists(ctx, o.nodeKey("state")).Result(); err != nil || ok != 1 {
		b.Fatalf("state marker: %d, %v", ok, err)
	}
}
