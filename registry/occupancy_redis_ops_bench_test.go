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
// redis-server, for an app with subscription_count on: without a webhook feed (none), with
// one but webhooks on another app only (other-app), and with webhooks of every type on the
// app itself (this-app; the feed's Run does not take the events). Besides the time it
// reports the commands Redis runs per cycle (redis-cmds/op, those the scripts run
// included).
func BenchmarkRedisOccupancySubscribe(b *testing.B) {
	hooks := []config.Webhook{{URL: "http://127.0.0.1/hooks"}}
	for _, c := range []struct {
		name string
		feed bool
		apps []config.App
	}{
		{"none", false, []config.App{{ID: "app", Key: "key", SubscriptionCount: true}}},
		{"other-app", true, []config.App{{ID: "app", Key: "key", SubscriptionCount: true}, {ID: "other", Key: "k2", Webhooks: hooks}}},
		{"this-app", true, []config.App{{ID: "app", Key: "key", SubscriptionCount: true, Webhooks: hooks}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			apps := NewApps(c.apps)
			srv := redistest.StartServer(b)
			rdb := srv.Client()
			p := RedisOccupancyParams{Redis: rdb, Prefix: "reverbd", Relay: "reverbd:reverb", NodeID: "bench", Apps: apps}
			if c.feed {
				p.Webhooks = NewRedisWebhookFeed(RedisWebhookFeedParams{Redis: rdb, Prefix: "reverbd", NodeID: "bench", Wants: apps.WantsWebhook})
			}
			benchSubscribeCycle(b, NewRedisOccupancy(p), srv)
		})
	}
}

// benchSubscribeCycle runs the cycles of BenchmarkRedisOccupancySubscribe on o, whose Redis
// is srv.
func benchSubscribeCycle(b *testing.B, o *RedisOccupancy, srv *redistest.Server) {
	ctx := context.Background()
	rdb := srv.Client()
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

// BenchmarkRedisOccupancySignIn is one signin and its sign-out on a RedisOccupancy against a
// private redis-server: the user's first signed-in connection (online is decided and
// published) and its last (offline), with a watchlist of 0, 10 or 100 user ids of which a
// tenth are online. It reports the commands Redis runs per cycle (redis-cmds/op).
func BenchmarkRedisOccupancySignIn(b *testing.B) {
	for _, size := range []int{0, 10, 100} {
		b.Run("watchlist-"+strconv.Itoa(size), func(b *testing.B) {
			ctx := context.Background()
			srv := redistest.StartServer(b)
			rdb := srv.Client()
			o := NewRedisOccupancy(RedisOccupancyParams{Redis: rdb, Prefix: "reverbd", Relay: "reverbd:reverb", NodeID: "bench"})
			watchlist := make([]string, size)
			for i := range watchlist {
				watchlist[i] = "w" + strconv.Itoa(i)
				if i%10 == 0 {
					if _, err := o.SignIn(ctx, "app", "0."+strconv.Itoa(i), watchlist[i], nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			before, err := redistest.ReadStats(ctx, rdb)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				socket := "1." + strconv.Itoa(i)
				if _, err := o.SignIn(ctx, "app", socket, "u"+strconv.Itoa(i), watchlist); err != nil {
					b.Fatal(err)
				}
				if err := o.SignOut(ctx, "app", socket); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			after, err := redistest.ReadStats(ctx, rdb)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(after.Since(before).Commands)/float64(b.N), "redis-cmds/op")
		})
	}
}
