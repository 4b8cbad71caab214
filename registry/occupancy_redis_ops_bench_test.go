package registry

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry/redistest"
)

// BenchmarkRedisOccupancySubscribe is one subscribe and one unsubscribe of a connection to a
// private channel and to a presence channel (the first and last connection each time, so the
// member events are decided and published) on a RedisOccupancy against a private
// redis-server: the hot path of an app with subscription_count on and no webhooks. Besides
// the time it reports the commands Redis runs per cycle (redis-cmds/op, those the scripts
// run included).
func BenchmarkRedisOccupancySubscribe(b *testing.B) {
	srv := redistest.StartServer(b)
	rdb := srv.Client()
	ctx := context.Background()
	apps := NewApps([]config.App{{ID: "app", Key: "key", Secret: "secret", SubscriptionCount: true}})
	o := NewRedisOccupancy(RedisOccupancyParams{Redis: rdb, Prefix: "reverbd", Relay: "reverbd:reverb", NodeID: "bench", Apps: apps})
	m := &Member{UserID: "7", RawID: json.RawMessage(`7`), Info: json.RawMessage(`{"name":"Ada"}`)}
	before, err := redistest.ReadStats(ctx, rdb)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		socket := "1." + strconv.Itoa(i)
		channel := "private-orders." + strconv.Itoa(i%100)
		if _, err := o.Subscribe(ctx, "app", channel, socket, nil, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := o.Subscribe(ctx, "app", "presence-room", socket, m, 0); err != nil {
			b.Fatal(err)
		}
		if _, _, err := o.Unsubscribe(ctx, "app", channel, socket); err != nil {
			b.Fatal(err)
		}
		if _, _, err := o.Unsubscribe(ctx, "app", "presence-room", socket); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	after, err := redistest.ReadStats(ctx, rdb)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(after.Since(before).Commands)/float64(b.N), "redis-cmds/op")
}
