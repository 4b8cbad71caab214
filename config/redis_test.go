package config

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRedisOptions(t *testing.T) {
	cases := []struct {
		name           string
		cfg            Config
		addr, user, pw string
		db             int
		tls            bool
	}{
		{"host and port", Config{RedisHost: "10.0.0.5", RedisPort: 6380, RedisUsername: "u", RedisPassword: "p", RedisDB: 2}, "10.0.0.5:6380", "u", "p", 2, false},
		{"url", Config{RedisURL: "redis://ops:s3cret@cache.internal:6390/4"}, "cache.internal:6390", "ops", "s3cret", 4, false},
		{"url without port", Config{RedisURL: "redis://cache.internal"}, "cache.internal:6379", "", "", 0, false},
		{"rediss", Config{RedisURL: "rediss://cache.internal:6380/1"}, "cache.internal:6380", "", "", 1, true},
		{"tls scheme", Config{RedisURL: "tls://:pw@cache.internal:6380"}, "cache.internal:6380", "", "pw", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opt, err := tc.cfg.RedisOptions()
			if err != nil {
				t.Fatal(err)
			}
			if opt.Addr != tc.addr || opt.Username != tc.user || opt.Password != tc.pw || opt.DB != tc.db || (opt.TLSConfig != nil) != tc.tls {
				t.Errorf("got addr %q user %q password %q db %d tls %v", opt.Addr, opt.Username, opt.Password, opt.DB, opt.TLSConfig != nil)
			}
		})
	}
}

func TestRedisURLErrorHidesThePassword(t *testing.T) {
	for _, u := range []string{"http://ops:hunter2@cache.internal", "redis://ops:hunter2@cache.internal/notadb", "redis://ops:hunter2@[::1"} {
		_, err := (&Config{RedisURL: u}).RedisOptions()
		if err == nil {
			t.Errorf("%s accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("error %q must name REDIS_URL and not hold the password", err)
		}
	}
}

// Every Redis client is built from RedisUniversalOptions: the REDIS_* client settings, the
// credentials and TLS reach it whichever of REDIS_HOST, REDIS_URL and REDIS_ADDRS names the
// servers, and a context's deadline always applies.
func TestRedisClientSettings(t *testing.T) {
	t.Parallel()
	const s = time.Second
	type want struct {
		addrs             []string
		master, user, pw  string
		db                int
		dial, read, write time.Duration
		pool              int
		tls               bool
		serverName        string
	}
	settings := []string{"REDIS_TIMEOUT=2.5", "REDIS_READ_TIMEOUT=750ms", "REDIS_WRITE_TIMEOUT=1", "REDIS_POOL_SIZE=200"}
	cases := []struct {
		name string
		env  []string
		want want
	}{
		{"defaults", []string{"REDIS_HOST=10.0.0.5"},
			want{addrs: []string{"10.0.0.5:6379"}, dial: 5 * s, read: 3 * s, write: 3 * s}},
		{"host", append([]string{"REDIS_HOST=10.0.0.5", "REDIS_USERNAME=u", "REDIS_PASSWORD=pw", "REDIS_DB=2"}, settings...),
			want{addrs: []string{"10.0.0.5:6379"}, user: "u", pw: "pw", db: 2, dial: 2500 * time.Millisecond, read: 750 * time.Millisecond, write: s, pool: 200}},
		{"host over tls", []string{"REDIS_HOST=cache.internal", "REDIS_SCHEME=tls"},
			want{addrs: []string{"cache.internal:6379"}, dial: 5 * s, read: 3 * s, write: 3 * s, tls: true}},
		{"url", append([]string{"REDIS_URL=rediss://ops:s3cret@cache.internal:6380/4"}, settings...),
			want{addrs: []string{"cache.internal:6380"}, user: "ops", pw: "s3cret", db: 4, dial: 2500 * time.Millisecond, read: 750 * time.Millisecond, write: s, pool: 200, tls: true, serverName: "cache.internal"}},
		{"redis url with the tls scheme", []string{"REDIS_URL=redis://cache.internal:6380", "REDIS_SCHEME=tls"},
			want{addrs: []string{"cache.internal:6380"}, dial: 5 * s, read: 3 * s, write: 3 * s, tls: true}},
		{"url query options win", append([]string{"REDIS_URL=redis://cache.internal/1?pool_size=7&read_timeout=2s"}, settings...),
			want{addrs: []string{"cache.internal:6379"}, db: 1, dial: 2500 * time.Millisecond, read: 2 * s, write: s, pool: 7}},
		{"sentinel keeps the url's credentials and tls", append([]string{"REDIS_URL=tls://ops:s3cret@cache.internal:6380/3",
			"REDIS_ADDRS=10.0.0.1:26379, 10.0.0.2:26379", "REDIS_SENTINEL_MASTER=mymaster"}, settings...),
			want{addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}, master: "mymaster", user: "ops", pw: "s3cret", db: 3,
				dial: 2500 * time.Millisecond, read: 750 * time.Millisecond, write: s, pool: 200, tls: true}},
		{"cluster keeps username, password and scheme", append([]string{"REDIS_ADDRS=10.0.0.1:7000,10.0.0.2:7000",
			"REDIS_USERNAME=u", "REDIS_PASSWORD=pw", "REDIS_SCHEME=TLS"}, settings...),
			want{addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}, user: "u", pw: "pw",
				dial: 2500 * time.Millisecond, read: 750 * time.Millisecond, write: s, pool: 200, tls: true}},
		{"cluster without tls", []string{"REDIS_ADDRS=10.0.0.1:7000,10.0.0.2:7000", "REDIS_PASSWORD=pw"},
			want{addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}, pw: "pw", dial: 5 * s, read: 3 * s, write: 3 * s}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadEnv(t, "", appEnv(append([]string{"REVERB_QUEUE_CONNECTION=redis"}, tc.env...)...))
			if err != nil {
				t.Fatal(err)
			}
			opt, err := c.RedisUniversalOptions()
			if err != nil {
				t.Fatal(err)
			}
			got := want{
				addrs: opt.Addrs, master: opt.MasterName, user: opt.Username, pw: opt.Password, db: opt.DB,
				dial: opt.DialTimeout, read: opt.ReadTimeout, write: opt.WriteTimeout, pool: opt.PoolSize,
				tls: opt.TLSConfig != nil,
			}
			if opt.TLSConfig != nil {
				got.serverName = opt.TLSConfig.ServerName
				if opt.TLSConfig.MinVersion != tls.VersionTLS12 {
					t.Errorf("TLS MinVersion %x, want TLS 1.2", opt.TLSConfig.MinVersion)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("options\n got %+v\nwant %+v", got, tc.want)
			}
			if !opt.ContextTimeoutEnabled {
				t.Error("ContextTimeoutEnabled is off: go-redis would ignore every context deadline")
			}
			// What go-redis builds for Sentinel, Cluster or one server keeps it all.
			var built []any
			switch {
			case opt.MasterName != "":
				f := opt.Failover()
				built = []any{f.ContextTimeoutEnabled, f.PoolSize, f.Username, f.Password, f.TLSConfig != nil}
			case len(opt.Addrs) > 1:
				f := opt.Cluster()
				built = []any{f.ContextTimeoutEnabled, f.PoolSize, f.Username, f.Password, f.TLSConfig != nil}
			default:
				f := opt.Simple()
				built = []any{f.ContextTimeoutEnabled, f.PoolSize, f.Username, f.Password, f.TLSConfig != nil}
			}
			if w := []any{true, tc.want.pool, tc.want.user, tc.want.pw, tc.want.tls}; !reflect.DeepEqual(built, w) {
				t.Errorf("client options %v, want %v", built, w)
			}
		})
	}
}

// A Laravel .env's REDIS_TIMEOUT is a number of seconds; a Go duration works too.
func TestSecondsDecode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"5": 5 * time.Second, "2.5": 2500 * time.Millisecond, "0.25": 250 * time.Millisecond,
		"60": time.Minute, "500ms": 500 * time.Millisecond, "1m30s": 90 * time.Second,
	} {
		var s Seconds
		if err := s.Decode(in); err != nil || time.Duration(s) != want {
			t.Errorf("Decode(%q) = %s, %v; want %s", in, s, err, want)
		}
	}
	for _, in := range []string{"", "five", "5 s", "NaN", "-Inf", "1e19"} {
		var s Seconds
		if err := s.Decode(in); err == nil {
			t.Errorf("Decode(%q) = %s, want an error", in, s)
		}
	}
}
