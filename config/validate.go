package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Validate checks c and returns the first problem as a single-line error naming the variable,
// or the apps-file field with the app's index and id. Load calls it; call it again after
// changing a Config by hand. No error contains a secret.
func (c *Config) Validate() error {
	switch {
	case c.ServerPort < 0 || c.ServerPort > 65535:
		// 0 is allowed: the kernel picks a free port (tests).
		return fmt.Errorf("config: REVERB_SERVER_PORT must be between 0 and 65535, got %d", c.ServerPort)
	case c.PublicPort < 1 || c.PublicPort > 65535:
		return fmt.Errorf("config: REVERB_PORT must be between 1 and 65535, got %d", c.PublicPort)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("config: REVERB_SERVER_TLS_CERT and REVERB_SERVER_TLS_KEY go together: set both to serve TLS, or neither")
	case c.MaxRequestSize < 0:
		return fmt.Errorf("config: REVERB_MAX_REQUEST_SIZE must be a number of bytes, or unset, got %d", c.MaxRequestSize)
	case c.MaxEventDataSize < 0:
		return fmt.Errorf("config: REVERB_MAX_EVENT_DATA_SIZE must be 0 (unlimited) or more (bytes), got %d", c.MaxEventDataSize)
	case c.MaxChannelsPerTrigger < 0:
		return fmt.Errorf("config: REVERB_MAX_CHANNELS_PER_TRIGGER must be 0 (unlimited) or more, got %d", c.MaxChannelsPerTrigger)
	case c.MaxBatchSize < 0:
		return fmt.Errorf("config: REVERB_MAX_BATCH_SIZE must be 0 (unlimited) or more, got %d", c.MaxBatchSize)
	case c.MaxEventNameLength < 0:
		return fmt.Errorf("config: REVERB_MAX_EVENT_NAME_LENGTH must be 0 (unlimited) or more (characters), got %d", c.MaxEventNameLength)
	case c.MaxChannelNameLength < 0:
		return fmt.Errorf("config: REVERB_MAX_CHANNEL_NAME_LENGTH must be 0 (unlimited) or more (characters), got %d", c.MaxChannelNameLength)
	case c.HTTPTimestampWindow != 0 && c.HTTPTimestampWindow < time.Second:
		// auth_timestamp is in whole seconds.
		return fmt.Errorf("config: REVERB_HTTP_TIMESTAMP_WINDOW must be 0s (not checked) or at least 1s, got %s", c.HTTPTimestampWindow)
	case c.QueueConnection != "memory" && c.QueueConnection != "redis":
		return fmt.Errorf("config: REVERB_QUEUE_CONNECTION must be memory or redis, got %q", c.QueueConnection)
	case strings.TrimSpace(c.QueueName) == "":
		return errors.New("config: REVERB_QUEUE_NAME is blank")
	case c.QueueTimeout < time.Second:
		// asynq keeps timeouts and deadlines in whole seconds (asynq's Timeout and Deadline options).
		return fmt.Errorf("config: REVERB_QUEUE_TIMEOUT must be at least 1s, got %s", c.QueueTimeout)
	case c.QueueDeadline < time.Second:
		return fmt.Errorf("config: REVERB_QUEUE_DEADLINE must be at least 1s, got %s", c.QueueDeadline)
	case c.QueueConcurrency < 1:
		return fmt.Errorf("config: REVERB_QUEUE_CONCURRENCY must be 1 or more, got %d", c.QueueConcurrency)
	case c.QueuePollInterval < time.Millisecond:
		return fmt.Errorf("config: REVERB_QUEUE_POLL_INTERVAL must be at least 1ms, got %s", c.QueuePollInterval)
	case c.AdminPort < 0 || c.AdminPort > 65535:
		return fmt.Errorf("config: REVERB_ADMIN_PORT must be between 0 (off) and 65535, got %d", c.AdminPort)
	case c.WorkerAdminPort < 0 || c.WorkerAdminPort > 65535:
		return fmt.Errorf("config: REVERB_WORKER_ADMIN_PORT must be between 0 (off) and 65535, got %d", c.WorkerAdminPort)
	case c.AdminPort != 0 && (c.AdminUsername == "" || c.AdminPassword == ""):
		// The web UI shows every queued payload and can delete tasks, and pprof exposes the
		// process: loopback is no protection on a shared host.
		return fmt.Errorf("config: REVERB_ADMIN_PORT=%d needs REVERB_ADMIN_USERNAME and REVERB_ADMIN_PASSWORD (basic auth for the admin listener)", c.AdminPort)
	case c.WorkerAdminPort != 0 && (c.AdminUsername == "" || c.AdminPassword == ""):
		return fmt.Errorf("config: REVERB_WORKER_ADMIN_PORT=%d needs REVERB_ADMIN_USERNAME and REVERB_ADMIN_PASSWORD (basic auth for the worker's admin listener)", c.WorkerAdminPort)
	case !validMetricsPrefix(c.MetricsPrefix):
		return fmt.Errorf("config: REVERB_METRICS_PREFIX must hold only letters, digits, underscores and colons, and not start with a digit, got %q", c.MetricsPrefix)
	case c.QueueSize < 1:
		return fmt.Errorf("config: REVERB_QUEUE_SIZE must be 1 or more, got %d", c.QueueSize)
	case c.RedisPort < 1 || c.RedisPort > 65535:
		return fmt.Errorf("config: REDIS_PORT must be between 1 and 65535, got %d", c.RedisPort)
	case c.RedisDB < 0:
		return fmt.Errorf("config: REDIS_DB must be 0 or more, got %d", c.RedisDB)
	case !strings.EqualFold(c.RedisScheme, "tcp") && !strings.EqualFold(c.RedisScheme, "tls"):
		return fmt.Errorf("config: REDIS_SCHEME must be tcp or tls, got %q", c.RedisScheme)
	case c.RedisTimeout <= 0:
		return fmt.Errorf("config: REDIS_TIMEOUT must be more than 0, got %s", c.RedisTimeout)
	case c.RedisReadTimeout <= 0:
		return fmt.Errorf("config: REDIS_READ_TIMEOUT must be more than 0, got %s", c.RedisReadTimeout)
	case c.RedisWriteTimeout <= 0:
		return fmt.Errorf("config: REDIS_WRITE_TIMEOUT must be more than 0, got %s", c.RedisWriteTimeout)
	case c.RedisPoolSize < 0:
		return fmt.Errorf("config: REDIS_POOL_SIZE must be 0 (go-redis's default) or more, got %d", c.RedisPoolSize)
	case c.CacheTTL <= 0:
		return fmt.Errorf("config: REVERB_CACHE_TTL must be more than 0, got %s", c.CacheTTL)
	case c.ShutdownDelay < 0 || c.ShutdownDrain < 0:
		return fmt.Errorf("config: REVERB_SHUTDOWN_DELAY and REVERB_SHUTDOWN_DRAIN must be 0s or more, got %s and %s", c.ShutdownDelay, c.ShutdownDrain)
	case c.ShutdownTimeout <= c.ShutdownDelay+c.ShutdownDrain:
		// The timeout covers the delay and the drain, and the closing after them.
		return fmt.Errorf("config: REVERB_SHUTDOWN_TIMEOUT (%s) must be longer than REVERB_SHUTDOWN_DELAY plus REVERB_SHUTDOWN_DRAIN (%s)", c.ShutdownTimeout, c.ShutdownDelay+c.ShutdownDrain)
	case c.WriteBufferLimit < 1:
		return fmt.Errorf("config: REVERB_WRITE_BUFFER_LIMIT must be 1 or more (bytes), got %d", c.WriteBufferLimit)
	case !validLogLevel(c.LogLevel):
		return fmt.Errorf("config: REVERB_LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel)
	case !strings.EqualFold(c.LogFormat, LogFormatText) && !c.JSONLogs():
		return fmt.Errorf("config: REVERB_LOG_FORMAT must be text or json, got %q", c.LogFormat)
	}
	if err := c.validateWebhookSettings(); err != nil {
		return err
	}
	if !c.QueueWorkers && c.QueueConnection != "redis" {
		return errors.New("config: REVERB_QUEUE_WORKERS=false needs REVERB_QUEUE_CONNECTION=redis: the memory queue has no other workers")
	}
	if c.ScalingEnabled {
		switch {
		case !c.redisConfigured:
			return errors.New("config: REVERB_SCALING_ENABLED=true needs Redis: set REDIS_URL (or REDIS_HOST, REDIS_PORT, REDIS_PASSWORD)")
		case c.QueueConnection != "redis":
			return errors.New("config: REVERB_SCALING_ENABLED=true needs REVERB_QUEUE_CONNECTION=redis, so a trigger Redis cannot take is refused instead of lost")
		case strings.TrimSpace(c.ScalingChannel) == "" || strings.TrimSpace(c.ScalingPrefix) == "":
			return errors.New("config: REVERB_SCALING_CHANNEL and REVERB_SCALING_PREFIX must not be blank")
		case c.ScalingLease < time.Second:
			return fmt.Errorf("config: REVERB_SCALING_LEASE must be at least 1s, got %s", c.ScalingLease)
		}
	}
	if c.QueueConnection == "redis" {
		if _, err := c.RedisUniversalOptions(); err != nil {
			return err
		}
	}
	return c.validateApps()
}

// validateApps checks each app and that no two share an id or a key.
func (c *Config) validateApps() error {
	if len(c.Apps) == 0 {
		return errors.New("config: no app configured: set REVERB_APP_ID, REVERB_APP_KEY and REVERB_APP_SECRET, or REVERB_APPS_FILE")
	}
	ids := make(map[string]string, len(c.Apps))  // app id → where it was defined
	keys := make(map[string]string, len(c.Apps)) // app key → where it was defined
	for i := range c.Apps {
		a := &c.Apps[i]
		name := c.appFieldName(i)
		if err := validateApp(a, name); err != nil {
			return err
		}
		if prev, dup := ids[a.ID]; dup {
			return fmt.Errorf("config: app id %q is used twice: by %s and by %s", a.ID, prev, name("app_id"))
		}
		if prev, dup := keys[a.Key]; dup {
			return fmt.Errorf("config: app key %q is used twice: by %s and by %s", a.Key, prev, name("key"))
		}
		ids[a.ID], keys[a.Key] = name("app_id"), name("key")
	}
	return nil
}

// validateApp checks one app; name turns an apps-file key into the name the error gives.
func validateApp(a *App, name func(field string) string) error {
	switch {
	case a.ID == "":
		return fmt.Errorf("config: %s is missing", name("app_id"))
	case strings.TrimSpace(a.Key) == "":
		return fmt.Errorf("config: %s is empty", name("key"))
	case a.Secret == "":
		return fmt.Errorf("config: %s is missing", name("secret"))
	case a.PingInterval < time.Second:
		return fmt.Errorf("config: %s must be 1 or more (seconds), got %d", name("ping_interval"), int(a.PingInterval/time.Second))
	case a.PongTimeout < 0:
		return fmt.Errorf("config: %s must be 0 (the ping interval) or more, got %d", name("pong_timeout"), int(a.PongTimeout/time.Second))
	case a.ActivityTimeout < time.Second:
		return fmt.Errorf("config: %s must be 1 or more (seconds), got %d", name("activity_timeout"), int(a.ActivityTimeout/time.Second))
	case a.UserAuthenticationTimeout < 0:
		return fmt.Errorf("config: %s must be 0 (off) or more (seconds), got %d", name("user_authentication_timeout"), int(a.UserAuthenticationTimeout/time.Second))
	case a.MaxMessageSize < 1:
		return fmt.Errorf("config: %s must be 1 or more (bytes), got %d", name("max_message_size"), a.MaxMessageSize)
	case a.MaxConnections < 0:
		return fmt.Errorf("config: %s must be 0 (unlimited) or more, got %d", name("max_connections"), a.MaxConnections)
	case a.AcceptClientEventsFrom == "":
		// Another value acts as none, with a warning (see Warnings).
		return fmt.Errorf("config: %s is empty: set members, all or none", name("accept_client_events_from"))
	case a.RateLimiting.Enabled && a.RateLimiting.MaxAttempts < 1:
		return fmt.Errorf("config: %s must be 1 or more, got %d", name("rate_limiting.max_attempts"), a.RateLimiting.MaxAttempts)
	case a.RateLimiting.Enabled && a.RateLimiting.DecaySeconds < 1:
		return fmt.Errorf("config: %s must be 1 or more, got %d", name("rate_limiting.decay_seconds"), a.RateLimiting.DecaySeconds)
	case a.MaxSubscriptions < 0:
		return fmt.Errorf("config: %s must be 0 (unlimited) or more, got %d", name("max_subscriptions"), a.MaxSubscriptions)
	case a.MaxClientEventsPerSecond < 0:
		return fmt.Errorf("config: %s must be 0 (unlimited) or more, got %d", name("max_client_events_per_second"), a.MaxClientEventsPerSecond)
	case a.MaxPresenceMembers < 0:
		return fmt.Errorf("config: %s must be 0 (unlimited) or more, got %d", name("max_presence_members"), a.MaxPresenceMembers)
	case a.MaxPresenceMemberSize < 0:
		return fmt.Errorf("config: %s must be 0 (unlimited) or more (bytes), got %d", name("max_presence_member_size"), a.MaxPresenceMemberSize)
	case a.MaxUserIDLength < 0:
		return fmt.Errorf("config: %s must be 0 (unlimited) or more (characters), got %d", name("max_user_id_length"), a.MaxUserIDLength)
	case a.MaxWatchlistSize < 0:
		return fmt.Errorf("config: %s must be 0 (watchlist events off) or more (user ids), got %d", name("max_watchlist_size"), a.MaxWatchlistSize)
	}
	if err := validateChannels(a, name); err != nil {
		return err
	}
	return validateWebhooks(a, name)
}

// envAppVars names the REVERB_APP_* variable behind each apps-file key.
var envAppVars = map[string]string{
	"app_id":                       "REVERB_APP_ID",
	"key":                          "REVERB_APP_KEY",
	"secret":                       "REVERB_APP_SECRET",
	"ping_interval":                "REVERB_APP_PING_INTERVAL",
	"pong_timeout":                 "REVERB_APP_PONG_TIMEOUT",
	"activity_timeout":             "REVERB_APP_ACTIVITY_TIMEOUT",
	"user_authentication_timeout":  "REVERB_APP_USER_AUTHENTICATION_TIMEOUT",
	"max_message_size":             "REVERB_APP_MAX_MESSAGE_SIZE",
	"max_connections":              "REVERB_APP_MAX_CONNECTIONS",
	"accept_client_events_from":    "REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM",
	"rate_limiting.max_attempts":   "REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS",
	"rate_limiting.decay_seconds":  "REVERB_APP_RATE_LIMIT_DECAY_SECONDS",
	"max_subscriptions":            "REVERB_APP_MAX_SUBSCRIPTIONS",
	"max_client_events_per_second": "REVERB_APP_MAX_CLIENT_EVENTS_PER_SECOND",
	"max_presence_members":         "REVERB_APP_MAX_PRESENCE_MEMBERS",
	"max_presence_member_size":     "REVERB_APP_MAX_PRESENCE_MEMBER_SIZE",
	"max_user_id_length":           "REVERB_APP_MAX_USER_ID_LENGTH",
	"subscription_count":           "REVERB_APP_SUBSCRIPTION_COUNT",
	"channels_file":                "REVERB_CHANNELS_FILE",
	"channels_mode":                "REVERB_CHANNELS_MODE",
	"webhooks[0].url":              "REVERB_APP_WEBHOOK_URL",
	"webhooks[0].event_types":      "REVERB_APP_WEBHOOK_EVENTS",
	"max_watchlist_size":           "REVERB_APP_MAX_WATCHLIST_SIZE",
}

// appFieldName returns how errors name a field of c.Apps[i]: the REVERB_APP_* variable for
// the app Load built from them (always first), else the apps-file key after the file, the
// app's index in the file and its id, e.g. `apps.json: apps[2] (app_id "7"): ping_interval`.
func (c *Config) appFieldName(i int) func(field string) string {
	fromEnv := c.AppID != "" && c.Apps[0].ID == c.AppID
	if fromEnv && i == 0 {
		return func(field string) string { return envAppVars[field] }
	}
	index := i
	if fromEnv {
		index-- // the index in the apps file
	}
	where := fmt.Sprintf("apps[%d] (app_id %q)", index, c.Apps[i].ID)
	if c.AppsFile != "" {
		where = "apps file " + c.AppsFile + ": " + where
	}
	return func(field string) string { return where + ": " + field }
}

// validMetricsPrefix reports whether p can start a Prometheus metric name
// (https://prometheus.io/docs/concepts/data_model/): [a-zA-Z_:][a-zA-Z0-9_:]*, or empty.
func validMetricsPrefix(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
