package config

import (
	"strings"
	"testing"
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
