package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisOptions returns the go-redis options of the Redis server, from REDIS_URL when it is
// set (redis://, rediss:// or tls:// for TLS; user, password and db in the URL), else from
// REDIS_HOST, REDIS_PORT, REDIS_USERNAME, REDIS_PASSWORD and REDIS_DB. The error names the
// variable and never holds the password.
func (c *Config) RedisOptions() (*redis.Options, error) {
	if c.RedisURL == "" {
		return &redis.Options{
			Addr:     net.JoinHostPort(c.RedisHost, strconv.Itoa(c.RedisPort)),
			Username: c.RedisUsername,
			Password: c.RedisPassword,
			DB:       c.RedisDB,
		}, nil
	}
	u := c.RedisURL
	if rest, ok := strings.CutPrefix(u, "tls://"); ok {
		u = "rediss://" + rest // Laravel's phpredis spelling of a TLS URL
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		return nil, fmt.Errorf("config: REDIS_URL is not a valid redis:// URL: %s", redactURLError(err))
	}
	if opt.TLSConfig != nil && opt.TLSConfig.MinVersion == 0 {
		opt.TLSConfig.MinVersion = tls.VersionTLS12
	}
	return opt, nil
}

// redactURLError keeps the reason of a URL parse error and drops any echo of the URL, which
// may hold a password.
func redactURLError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		return "malformed URL"
	}
	return msg
}

// RedisUniversalOptions returns the options of go-redis's universal client: Sentinel when
// REDIS_SENTINEL_MASTER is set (REDIS_ADDRS lists the sentinels), Cluster when REDIS_ADDRS
// lists several nodes, otherwise the single server of RedisOptions.
func (c *Config) RedisUniversalOptions() (*redis.UniversalOptions, error) {
	if c.RedisAddrs == "" {
		opt, err := c.RedisOptions()
		if err != nil {
			return nil, err
		}
		return &redis.UniversalOptions{
			Addrs: []string{opt.Addr}, Username: opt.Username, Password: opt.Password,
			DB: opt.DB, TLSConfig: opt.TLSConfig,
		}, nil
	}
	return &redis.UniversalOptions{
		Addrs:      splitList(c.RedisAddrs),
		MasterName: c.RedisSentinelMaster,
		Username:   c.RedisUsername,
		Password:   c.RedisPassword,
		DB:         c.RedisDB,
	}, nil
}
