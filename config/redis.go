package config

import (
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Seconds is a Redis timeout as Laravel writes one, a number of seconds (5, 2.5), or as a Go
// duration (500ms).
type Seconds time.Duration

// Decode implements envconfig.Decoder.
func (s *Seconds) Decode(value string) error {
	if f, err := strconv.ParseFloat(value, 64); err == nil {
		d := f * float64(time.Second)
		if math.IsNaN(d) || math.IsInf(d, 0) || math.Abs(d) > math.MaxInt64 {
			return strconv.ErrRange
		}
		*s = Seconds(d)
		return nil
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		return err
	}
	*s = Seconds(d)
	return nil
}

// String returns the timeout as a Go duration.
func (s Seconds) String() string { return time.Duration(s).String() }

// RedisOptions returns the go-redis options of the single Redis server: from REDIS_URL when it
// is set (redis://, rediss:// or tls:// for TLS; user, password and db in the URL), else from
// REDIS_HOST, REDIS_PORT, REDIS_USERNAME, REDIS_PASSWORD and REDIS_DB. REDIS_SCHEME=tls turns
// TLS on for either; the client settings (see applyClientSettings) apply. The error names the
// variable and never holds the password.
func (c *Config) RedisOptions() (*redis.Options, error) {
	var opt *redis.Options
	if c.RedisURL == "" {
		opt = &redis.Options{
			Addr:     net.JoinHostPort(c.RedisHost, strconv.Itoa(c.RedisPort)),
			Username: c.RedisUsername,
			Password: c.RedisPassword,
			DB:       c.RedisDB,
		}
	} else {
		u := c.RedisURL
		if rest, ok := strings.CutPrefix(u, "tls://"); ok {
			u = "rediss://" + rest // Laravel's phpredis spelling of a TLS URL
		}
		var err error
		if opt, err = redis.ParseURL(u); err != nil {
			return nil, fmt.Errorf("config: REDIS_URL is not a valid redis:// URL: %s", redactURLError(err))
		}
	}
	if opt.TLSConfig == nil && c.redisTLS() {
		// ServerName stays empty: crypto/tls takes it from the address dialled.
		opt.TLSConfig = &tls.Config{}
	}
	if opt.TLSConfig != nil && opt.TLSConfig.MinVersion == 0 {
		opt.TLSConfig.MinVersion = tls.VersionTLS12
	}
	c.applyClientSettings(opt)
	return opt, nil
}

// redisTLS reports whether REDIS_SCHEME asks for TLS (Laravel's scheme option: tcp or tls).
func (c *Config) redisTLS() bool { return strings.EqualFold(c.RedisScheme, "tls") }

// applyClientSettings gives opt the timeouts and pool size of REDIS_TIMEOUT,
// REDIS_READ_TIMEOUT, REDIS_WRITE_TIMEOUT and REDIS_POOL_SIZE, except where a REDIS_URL query
// option (dial_timeout, read_timeout, write_timeout, pool_size) already set one. It also
// makes every command honour its context's deadline: without ContextTimeoutEnabled go-redis
// ignores it, and a call with a short deadline to a Redis that hangs would wait for the read timeout.
func (c *Config) applyClientSettings(opt *redis.Options) {
	if opt.DialTimeout == 0 {
		opt.DialTimeout = time.Duration(c.RedisTimeout)
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = time.Duration(c.RedisReadTimeout)
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = time.Duration(c.RedisWriteTimeout)
	}
	if opt.PoolSize == 0 {
		opt.PoolSize = c.RedisPoolSize // 0 leaves go-redis's default
	}
	opt.ContextTimeoutEnabled = true
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

// RedisUniversalOptions returns the options every Redis client of the process is built with
// (go-redis's universal client): Sentinel when REDIS_SENTINEL_MASTER is set (REDIS_ADDRS
// lists the sentinels), Cluster when REDIS_ADDRS lists several nodes, otherwise the single
// server of RedisOptions. With REDIS_ADDRS the addresses replace the host of REDIS_URL or
// REDIS_HOST, and everything else is kept: the user, password and database (of REDIS_URL,
// else REDIS_USERNAME, REDIS_PASSWORD and REDIS_DB), TLS (a rediss:// or tls:// REDIS_URL, or
// REDIS_SCHEME=tls) and the client settings.
func (c *Config) RedisUniversalOptions() (*redis.UniversalOptions, error) {
	opt, err := c.RedisOptions()
	if err != nil {
		return nil, err
	}
	u := universalOptions(opt)
	if c.RedisAddrs != "" {
		u.Addrs = splitList(c.RedisAddrs)
		u.MasterName = c.RedisSentinelMaster
		if opt.TLSConfig != nil {
			// The server name a URL gave belongs to its host, not to the listed nodes; left
			// empty, crypto/tls checks each node's certificate against the address dialled.
			u.TLSConfig = &tls.Config{MinVersion: opt.TLSConfig.MinVersion, InsecureSkipVerify: opt.TLSConfig.InsecureSkipVerify}
		}
	}
	return u, nil
}

// universalOptions carries every option a REDIS_URL or the REDIS_* variables can set.
func universalOptions(o *redis.Options) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                   []string{o.Addr},
		ClientName:              o.ClientName,
		Protocol:                o.Protocol,
		Username:                o.Username,
		Password:                o.Password,
		DB:                      o.DB,
		MaxRetries:              o.MaxRetries,
		MinRetryBackoff:         o.MinRetryBackoff,
		MaxRetryBackoff:         o.MaxRetryBackoff,
		DialTimeout:             o.DialTimeout,
		ReadTimeout:             o.ReadTimeout,
		WriteTimeout:            o.WriteTimeout,
		ContextTimeoutEnabled:   o.ContextTimeoutEnabled,
		PoolFIFO:                o.PoolFIFO,
		PoolSize:                o.PoolSize,
		PoolTimeout:             o.PoolTimeout,
		MinIdleConns:            o.MinIdleConns,
		MaxIdleConns:            o.MaxIdleConns,
		MaxActiveConns:          o.MaxActiveConns,
		MaxConcurrentDials:      o.MaxConcurrentDials,
		ConnMaxIdleTime:         o.ConnMaxIdleTime,
		ConnMaxLifetime:         o.ConnMaxLifetime,
		ConnMaxLifetimeJitter:   o.ConnMaxLifetimeJitter,
		PipelinePoolSize:        o.PipelinePoolSize,
		PipelineReadBufferSize:  o.PipelineReadBufferSize,
		PipelineWriteBufferSize: o.PipelineWriteBufferSize,
		TLSConfig:               o.TLSConfig,
	}
}
