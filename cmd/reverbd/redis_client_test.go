package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/jobs"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/redistest"
)

// loadConfig loads the configuration of a process with env, as startProcess does.
func loadConfig(t *testing.T, env ...string) *config.Config {
	t.Helper()
	empty := filepath.Join(t.TempDir(), ".env")
	if err := writeFile(empty, ""); err != nil {
		t.Fatal(err)
	}
	environ := append([]string{"REVERB_APP_ID=" + e2eID, "REVERB_APP_KEY=" + e2eKey, "REVERB_APP_SECRET=" + e2eSecret}, env...)
	cfg, err := config.Load(empty, environ)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// clientSettings is what matters of a go-redis client's options here.
type clientSettings struct {
	ContextTimeout bool
	PoolSize       int
	Read           time.Duration
	Username       string
	Password       string
	TLS            bool
}

func settingsOf(t *testing.T, c any) clientSettings {
	t.Helper()
	switch c := c.(type) {
	case *redis.Client: // one server, or the master behind Sentinel
		o := c.Options()
		return clientSettings{o.ContextTimeoutEnabled, o.PoolSize, o.ReadTimeout, o.Username, o.Password, o.TLSConfig != nil}
	case *redis.ClusterClient:
		o := c.Options()
		return clientSettings{o.ContextTimeoutEnabled, o.PoolSize, o.ReadTimeout, o.Username, o.Password, o.TLSConfig != nil}
	}
	t.Fatalf("unexpected client %T", c)
	return clientSettings{}
}

// The process's client (queue, workers, cluster state, relay, cache) and the web UI's both
// carry the REDIS_* settings, the credentials and TLS, for one server, Sentinel and Cluster.
func TestRedisClientsKeepTheSettings(t *testing.T) {
	want := clientSettings{ContextTimeout: true, PoolSize: 64, Read: 1500 * time.Millisecond, Username: "ops", Password: "s3cret", TLS: true}
	for name, env := range map[string][]string{
		"url":      {"REDIS_URL=rediss://ops:s3cret@cache.internal:6380/1"},
		"sentinel": {"REDIS_URL=tls://ops:s3cret@cache.internal/1", "REDIS_ADDRS=10.0.0.1:26379,10.0.0.2:26379", "REDIS_SENTINEL_MASTER=mymaster"},
		"cluster":  {"REDIS_ADDRS=10.0.0.1:7000,10.0.0.2:7000", "REDIS_USERNAME=ops", "REDIS_PASSWORD=s3cret", "REDIS_SCHEME=tls"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := loadConfig(t, append(env, "REVERB_QUEUE_CONNECTION=redis", "REDIS_POOL_SIZE=64", "REDIS_READ_TIMEOUT=1.5")...)
			rdb, err := newRedis(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			if got := settingsOf(t, rdb); !reflect.DeepEqual(got, want) {
				t.Errorf("process client: %+v, want %+v", got, want)
			}
			opt, err := cfg.RedisUniversalOptions()
			if err != nil {
				t.Fatal(err)
			}
			ui := asynqConnOpt(opt).MakeRedisClient().(redis.UniversalClient)
			defer ui.Close()
			if got := settingsOf(t, ui); !reflect.DeepEqual(got, want) {
				t.Errorf("web UI client: %+v, want %+v", got, want)
			}
		})
	}
}

// With Redis hung (connected, but answering nothing: CLIENT PAUSE), a caller's deadline ends
// the wait even though the socket timeouts are long: a publish or a script run with 300 ms
// returns an error, and a trigger is answered 503 once the enqueue timeout passes, instead of
// all of them waiting for Redis. Once Redis answers again, everything works.
func TestHungRedisCallersDeadlinesApply(t *testing.T) {
	srv := redistest.StartServer(t)
	env := append(clusterEnv(t, srv.URL()), "REDIS_READ_TIMEOUT=60", "REDIS_WRITE_TIMEOUT=60")
	p := startProcess(t, env...)
	c := p.dial(t)
	c.subscribe("orders")
	sdk := p.sdk(t)
	if err := sdk.Trigger("orders", "before", "{}"); err != nil {
		t.Fatal(err)
	}
	if ev := c.next(); ev != "before" {
		t.Fatalf("got %s", ev)
	}

	// The client the process builds, for what the process does with Redis on its own.
	cfg := loadConfig(t, env...)
	rdb, err := newRedis(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	relay := jobs.NewRedisRelay(rdb, cfg.ScalingPubSubChannel(), "another-node", nil, nil, nil)
	occupancy := registry.NewRedisOccupancy(registry.RedisOccupancyParams{
		Redis: rdb, Prefix: cfg.ScalingKeyPrefix(), NodeID: "another-node", LeaseTTL: cfg.ScalingLease,
		Log: slog.New(slog.DiscardHandler),
	})
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil { // a pooled connection: the pause meets commands, not a dial
		t.Fatal(err)
	}

	const pause = 5 * time.Second
	if err := srv.Client().Do(ctx, "CLIENT", "PAUSE", pause.Milliseconds(), "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	for name, op := range map[string]func(context.Context) error{
		"PUBLISH": func(ctx context.Context) error { // no node has a subscriber on the channel
			return relay.PublishFrame(ctx, e2eID, "nobody-listens", "", []byte(`{}`))
		},
		"EVAL": func(ctx context.Context) error { return occupancy.Connect(ctx, e2eID, "1.1", 0) },
	} {
		opCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		start := time.Now()
		err := op(opCtx)
		cancel()
		if err == nil {
			t.Errorf("%s succeeded while Redis was paused: its 300 ms deadline was ignored", name)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("%s returned after %s, want about 300 ms", name, d.Round(time.Millisecond))
		}
	}
	err = sdk.Trigger("orders", "during", "{}")
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("trigger while Redis was paused: %v, want 503 within the enqueue timeout", err)
	}
	if time.Since(paused) >= pause {
		t.Fatal("the checks outlasted the pause, so Redis may have answered them")
	}

	waitUp(t, p, http.StatusOK)
	if err := sdk.Trigger("orders", "after", "{}"); err != nil {
		t.Fatal(err)
	}
	if ev := c.next(); ev != "after" {
		t.Errorf("after the pause got %s", ev)
	}
}
