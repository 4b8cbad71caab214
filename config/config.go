package config

import (
	"net"
	"strconv"
	"time"
)

// Config is the whole server configuration. Every field is read from the variable named in
// its envconfig tag, the same names a Laravel app's .env holds; the comments are the reference.
type Config struct {
	// ServerHost and ServerPort are the address the public listener binds.
	ServerHost string `envconfig:"REVERB_SERVER_HOST" default:"0.0.0.0"`
	ServerPort int    `envconfig:"REVERB_SERVER_PORT" default:"8080"`
	// ServerPath prefixes every route, WebSocket and HTTP API alike (e.g. "/ws").
	ServerPath string `envconfig:"REVERB_SERVER_PATH"`
	// Hostname, PublicPort and Scheme say how the Laravel app reaches the server; informational.
	Hostname   string `envconfig:"REVERB_HOST"`
	PublicPort int    `envconfig:"REVERB_PORT" default:"443"`
	Scheme     string `envconfig:"REVERB_SCHEME" default:"https"`
	// TLSCert and TLSKey are PEM files (the certificate chain, leaf first, and its private
	// key): set both and the public port serves wss:// and https:// itself, without a proxy
	// in front. SIGHUP reads them again; new handshakes get the new certificate.
	TLSCert string `envconfig:"REVERB_SERVER_TLS_CERT"`
	TLSKey  string `envconfig:"REVERB_SERVER_TLS_KEY"`
	// MaxRequestSize caps an HTTP API request (413 past it). Unset (or 0), the body may take
	// 640 KiB, which fits a batch of 10 events at every limit (10 KiB of data each). Set, it
	// caps the whole request, request line and headers included, as Reverb does.
	MaxRequestSize int64 `envconfig:"REVERB_MAX_REQUEST_SIZE"`
	// The limits of the HTTP API and of channel names, Pusher's by default; 0 means no limit
	// (the request size cap still bounds what a trigger carries). MaxEventDataSize caps the
	// data string of one event in bytes (413 past it), MaxChannelsPerTrigger the channels of
	// one trigger, MaxBatchSize the events of one batch_events, MaxEventNameLength an event
	// name in characters, on triggers and client events alike (400 past them; 4301 for a
	// client event). MaxChannelNameLength caps a channel name in characters wherever one is
	// given: triggers and channel queries (400), subscribes (a pusher:subscription_error)
	// and client events. Raising them with MaxRequestSize unset raises the body cap so that a
	// full batch at every limit still fits.
	MaxEventDataSize      int `envconfig:"REVERB_MAX_EVENT_DATA_SIZE" default:"10240"`
	MaxChannelsPerTrigger int `envconfig:"REVERB_MAX_CHANNELS_PER_TRIGGER" default:"100"`
	MaxBatchSize          int `envconfig:"REVERB_MAX_BATCH_SIZE" default:"10"`
	MaxEventNameLength    int `envconfig:"REVERB_MAX_EVENT_NAME_LENGTH" default:"200"`
	MaxChannelNameLength  int `envconfig:"REVERB_MAX_CHANNEL_NAME_LENGTH" default:"200"`
	// HTTPTimestampWindow is how far an HTTP API request's auth_timestamp may be from the
	// server's clock (401 past it), Pusher's 600 s by default. 0 means it is not checked, as
	// Reverb does not check it.
	HTTPTimestampWindow time.Duration `envconfig:"REVERB_HTTP_TIMESTAMP_WINDOW" default:"10m"`

	// The single app defined by REVERB_APP_*; optional when AppsFile is set.
	AppID                    string `envconfig:"REVERB_APP_ID"`
	AppKey                   string `envconfig:"REVERB_APP_KEY"`
	AppSecret                string `envconfig:"REVERB_APP_SECRET"`
	AppPingInterval          int    `envconfig:"REVERB_APP_PING_INTERVAL" default:"60"`    // seconds
	AppPongTimeout           int    `envconfig:"REVERB_APP_PONG_TIMEOUT"`                  // seconds; 0 = ping interval
	AppActivityTimeout       int    `envconfig:"REVERB_APP_ACTIVITY_TIMEOUT" default:"30"` // seconds
	AppUserAuthTimeout       int    `envconfig:"REVERB_APP_USER_AUTHENTICATION_TIMEOUT"`   // seconds; 0 = off
	AppMaxConnections        int    `envconfig:"REVERB_APP_MAX_CONNECTIONS"`               // 0 = unlimited
	AppMaxMessageSize        int    `envconfig:"REVERB_APP_MAX_MESSAGE_SIZE" default:"10000"`
	AppAcceptClientEvents    string `envconfig:"REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM" default:"members"`
	AppAllowedOrigins        string `envconfig:"REVERB_APP_ALLOWED_ORIGINS" default:"*"` // comma list
	AppRateLimitEnabled      bool   `envconfig:"REVERB_APP_RATE_LIMITING_ENABLED"`
	AppRateLimitMax          int    `envconfig:"REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS" default:"60"`
	AppRateLimitDecay        int    `envconfig:"REVERB_APP_RATE_LIMIT_DECAY_SECONDS" default:"60"`
	AppRateLimitTerminate    bool   `envconfig:"REVERB_APP_RATE_LIMIT_TERMINATE"`
	AppMaxSubscriptions      int    `envconfig:"REVERB_APP_MAX_SUBSCRIPTIONS" default:"1000"`          // 0 = unlimited
	AppMaxClientEventsPS     int    `envconfig:"REVERB_APP_MAX_CLIENT_EVENTS_PER_SECOND" default:"10"` // 0 = unlimited
	AppMaxPresenceMembers    int    `envconfig:"REVERB_APP_MAX_PRESENCE_MEMBERS"`                      // 0 = unlimited
	AppMaxPresenceMemberSize int    `envconfig:"REVERB_APP_MAX_PRESENCE_MEMBER_SIZE" default:"1024"`   // bytes of user_info; 0 = unlimited
	AppMaxUserIDLength       int    `envconfig:"REVERB_APP_MAX_USER_ID_LENGTH" default:"128"`          // characters; 0 = unlimited
	AppSubscriptionCount     bool   `envconfig:"REVERB_APP_SUBSCRIPTION_COUNT"`                        // pusher_internal:subscription_count
	// ChannelsFile is the channel catalogue of the REVERB_APP_* app (YAML or JSON);
	// ChannelsMode is how it is enforced: off, warn or strict (see App.ChannelsMode).
	ChannelsFile string `envconfig:"REVERB_CHANNELS_FILE"`
	ChannelsMode string `envconfig:"REVERB_CHANNELS_MODE" default:"off"`
	// AppWebhookURL, when set, gives the app one webhook (see Webhook); AppWebhookEvents is
	// the comma list of event types sent there, empty for every type.
	AppWebhookURL       string `envconfig:"REVERB_APP_WEBHOOK_URL"`
	AppWebhookEvents    string `envconfig:"REVERB_APP_WEBHOOK_EVENTS"`
	AppMaxWatchlistSize int    `envconfig:"REVERB_APP_MAX_WATCHLIST_SIZE" default:"100"` // user ids; 0 = watchlist events off
	// AppsFile names a JSON array of apps (see App); they are added to the REVERB_APP_* app.
	AppsFile string `envconfig:"REVERB_APPS_FILE"`

	// QueueConnection selects the delivery queue: "memory" (in process) or "redis" (asynq).
	QueueConnection string `envconfig:"REVERB_QUEUE_CONNECTION" default:"memory"`
	// QueueName is the asynq queue broadcasts go through.
	QueueName string `envconfig:"REVERB_QUEUE_NAME" default:"broadcasts"`
	// QueueTimeout bounds one delivery; QueueDeadline is how long after it was queued an
	// event may still be delivered. Past it the event is discarded, never retried.
	QueueTimeout  time.Duration `envconfig:"REVERB_QUEUE_TIMEOUT" default:"30s"`
	QueueDeadline time.Duration `envconfig:"REVERB_QUEUE_DEADLINE" default:"60s"`
	// QueueConcurrency is the number of delivery workers. The memory queue keeps each
	// channel's order at any value; the redis queue keeps it only at 1 (asynq runs its
	// workers' tasks concurrently).
	QueueConcurrency int `envconfig:"REVERB_QUEUE_CONCURRENCY" default:"1"`
	// QueueWorkers runs the delivery workers in `reverbd start`. Set it to false on socket
	// nodes when `reverbd worker` processes run them instead (redis queue only).
	QueueWorkers bool `envconfig:"REVERB_QUEUE_WORKERS" default:"true"`
	// QueuePollInterval is how often an idle asynq worker polls Redis for tasks; it bounds
	// the added trigger-to-delivery latency (about 0.5 to 1.5 times the interval).
	QueuePollInterval time.Duration `envconfig:"REVERB_QUEUE_POLL_INTERVAL" default:"2ms"`
	// QueueSize bounds the events the in-process queue holds (waiting or in delivery, each
	// counted once whatever its channels, across all workers); a trigger past it gets 503.
	QueueSize int `envconfig:"REVERB_QUEUE_SIZE" default:"65536"`

	// The Redis server of the redis queue (REVERB_QUEUE_CONNECTION=redis), under Laravel's
	// names so the app's .env serves both. RedisURL, when set, is used instead of the
	// host, port, username, password and DB (redis://[user:password@]host:port/db).
	RedisURL      string `envconfig:"REDIS_URL"`
	RedisHost     string `envconfig:"REDIS_HOST" default:"127.0.0.1"`
	RedisPort     int    `envconfig:"REDIS_PORT" default:"6379"`
	RedisUsername string `envconfig:"REDIS_USERNAME"`
	RedisPassword string `envconfig:"REDIS_PASSWORD"`
	RedisDB       int    `envconfig:"REDIS_DB"`
	// RedisScheme is Laravel's scheme option of a Redis connection: tcp, or tls for TLS to
	// REDIS_HOST, to every REDIS_ADDRS address or to a redis:// REDIS_URL. A rediss:// or
	// tls:// REDIS_URL turns TLS on by itself.
	RedisScheme string `envconfig:"REDIS_SCHEME" default:"tcp"`
	// RedisTimeout bounds connecting to Redis (phpredis's timeout option). RedisReadTimeout
	// and RedisWriteTimeout bound waiting for one reply and sending one command. Each is a
	// number of seconds as Laravel writes it (5, 2.5) or a Go duration (500ms); a caller's
	// shorter deadline applies as well (a trigger waits at most 2 s for Redis, a client event
	// 500 ms). A REDIS_URL query option (dial_timeout, read_timeout, write_timeout) wins.
	RedisTimeout      Seconds `envconfig:"REDIS_TIMEOUT" default:"5s"`
	RedisReadTimeout  Seconds `envconfig:"REDIS_READ_TIMEOUT" default:"3s"`
	RedisWriteTimeout Seconds `envconfig:"REDIS_WRITE_TIMEOUT" default:"3s"`
	// RedisPoolSize is the most connections the process opens to each Redis server, shared by
	// the queue, the workers and the cluster state; 0 means go-redis's default, 10 per CPU (5
	// per CPU and node in Cluster). A REDIS_URL pool_size option wins.
	RedisPoolSize int `envconfig:"REDIS_POOL_SIZE"`

	// WebhookBatchWindow and WebhookBatchSize close a batch of one app's webhook events: when
	// its first event is this old, or when it holds this many events (one POST each).
	WebhookBatchWindow time.Duration `envconfig:"REVERB_WEBHOOK_BATCH_WINDOW" default:"250ms"`
	WebhookBatchSize   int           `envconfig:"REVERB_WEBHOOK_BATCH_SIZE" default:"20"`
	// WebhookRetryFor is how long a webhook POST is tried again (with exponential backoff)
	// after its batch was handed to the sender; then it is dropped. 0 means one try.
	WebhookRetryFor time.Duration `envconfig:"REVERB_WEBHOOK_RETRY_FOR" default:"5m"`
	// WebhookTimeout bounds one webhook POST, answer included.
	WebhookTimeout time.Duration `envconfig:"REVERB_WEBHOOK_TIMEOUT" default:"4s"`
	// WebhookVacatedDelay is how long a channel must stay empty before channel_vacated is
	// sent; a subscriber back within it sends neither channel_vacated nor channel_occupied.
	WebhookVacatedDelay time.Duration `envconfig:"REVERB_WEBHOOK_VACATED_DELAY" default:"3s"`
	// WebhookQueue is the asynq queue webhook POSTs go through (redis queue), under the
	// scaling prefix as QueueName is.
	WebhookQueue string `envconfig:"REVERB_WEBHOOK_QUEUE" default:"webhooks"`

	// CacheTTL is how long the last event of a cache channel is kept.
	CacheTTL time.Duration `envconfig:"REVERB_CACHE_TTL" default:"30m"`
	// WriteBufferLimit is the most bytes queued for one connection before it is dropped
	// as a slow consumer (close 4100).
	WriteBufferLimit int `envconfig:"REVERB_WRITE_BUFFER_LIMIT" default:"1048576"`

	// AdminHost and AdminPort are the admin listener: asynq's web UI under /asynq (redis
	// queue), net/http/pprof under /debug/pprof and Prometheus metrics at /metrics
	// (MetricsEnabled). AdminPort 0 turns it off. It is never
	// served on the public port.
	AdminHost string `envconfig:"REVERB_ADMIN_HOST" default:"127.0.0.1"`
	AdminPort int    `envconfig:"REVERB_ADMIN_PORT"`
	// WorkerAdminPort is the admin listener's port in `reverbd worker` (on AdminHost, with the
	// same basic auth); 0 turns it off. A worker never uses AdminPort, so a worker and a
	// socket node reading one .env never ask for the same port.
	WorkerAdminPort int `envconfig:"REVERB_WORKER_ADMIN_PORT"`
	// AdminUsername and AdminPassword are the admin listener's basic auth; both are required
	// whenever AdminPort is set, loopback included.
	AdminUsername string `envconfig:"REVERB_ADMIN_USERNAME"`
	AdminPassword string `envconfig:"REVERB_ADMIN_PASSWORD"`

	// MetricsEnabled serves Prometheus metrics at GET /metrics on the admin listener (with its
	// basic auth); it has no effect while the admin listener is off (AdminPort 0).
	MetricsEnabled bool `envconfig:"REVERB_METRICS_ENABLED" default:"true"`
	// MetricsPrefix starts the name of every exported metric, the Go runtime's and the
	// process's included: reverbd_connected. soketi's dashboards expect soketi_, Sockudo's
	// sockudo_. Letters, digits, underscores and colons; not starting with a digit.
	MetricsPrefix string `envconfig:"REVERB_METRICS_PREFIX" default:"reverbd_"`

	// ScalingEnabled runs this node as one of several behind a load balancer: events, client
	// events and presence go through Redis (pub/sub and shared state). It needs the Redis
	// settings and the redis queue.
	ScalingEnabled bool `envconfig:"REVERB_SCALING_ENABLED"`
	// ScalingChannel is the Redis pub/sub channel the nodes share (under ScalingPrefix).
	ScalingChannel string `envconfig:"REVERB_SCALING_CHANNEL" default:"reverb"`
	// ScalingPrefix starts every Redis key and the channel name, so two deployments can share
	// one Redis without crosstalk.
	ScalingPrefix string `envconfig:"REVERB_SCALING_PREFIX" default:"reverbd"`
	// ScalingLease is how long a node's lease lives without renewal: a node that dies is
	// removed from the cluster state (its members leave) within about this time.
	ScalingLease time.Duration `envconfig:"REVERB_SCALING_LEASE" default:"10s"`

	// RedisAddrs lists several Redis addresses for Sentinel (with RedisSentinelMaster) or
	// Cluster (more than one address, no master name); it replaces the host and port of
	// REDIS_URL or REDIS_HOST/REDIS_PORT, and keeps the rest: user, password, database, TLS
	// and the client settings.
	RedisAddrs string `envconfig:"REDIS_ADDRS"`
	// RedisSentinelMaster is the Sentinel master name; set it to connect through Sentinel.
	RedisSentinelMaster string `envconfig:"REDIS_SENTINEL_MASTER"`

	// ShutdownDelay is how long a stopping node keeps accepting connections and triggers
	// while GET /up already answers 503 {"health":"draining"}, so a load balancer's health
	// check takes it out of rotation first. ShutdownDrain is the window over which it then
	// closes its sockets with 4200, spread evenly with jitter (0: all at once), so their
	// clients reconnect elsewhere a few at a time. ShutdownTimeout bounds the whole stop,
	// both included; the process-manager files in deployment/ wait longer before SIGKILL.
	ShutdownDelay   time.Duration `envconfig:"REVERB_SHUTDOWN_DELAY" default:"0s"`
	ShutdownDrain   time.Duration `envconfig:"REVERB_SHUTDOWN_DRAIN" default:"0s"`
	ShutdownTimeout time.Duration `envconfig:"REVERB_SHUTDOWN_TIMEOUT" default:"30s"`
	// ControlSocket is the Unix socket on which `reverbd start` takes `reverbd restart`'s
	// request when scaling is off: a path, or @name for a Linux abstract socket. Empty means
	// @reverbd-{port}, after the bound REVERB_SERVER_PORT. Only the server's own user and
	// root may use it.
	ControlSocket string `envconfig:"REVERB_CONTROL_SOCKET"`

	// Debug turns on debug logging (LogLevel debug, whatever LogLevel says): each connection's
	// open and close, each inbound message, each outbound frame, and each delivery's latency.
	Debug bool `envconfig:"REVERB_DEBUG"`
	// LogLevel is the lowest level logged: debug, info, warn (or warning) or error.
	LogLevel string `envconfig:"REVERB_LOG_LEVEL" default:"info"`
	// LogFormat is how log lines are written on stderr: text (key=value) or json (one object
	// a line).
	LogFormat string `envconfig:"REVERB_LOG_FORMAT" default:"text"`

	// Apps is every configured app, filled by Load from REVERB_APP_* and AppsFile.
	Apps []App `ignored:"true"`

	// redisConfigured records whether REDIS_URL, REDIS_HOST or REDIS_ADDRS was given.
	redisConfigured bool
}

// AsynqQueue is the asynq queue the broadcasts go through: REVERB_QUEUE_NAME, under the
// scaling prefix when scaling is on ("reverbd:broadcasts"), so two deployments sharing one
// Redis never run each other's tasks.
func (c *Config) AsynqQueue() string {
	if c.ScalingEnabled {
		return c.ScalingPrefix + ":" + c.QueueName
	}
	return c.QueueName
}

// AsynqWebhookQueue is the asynq queue of webhook POSTs: REVERB_WEBHOOK_QUEUE, under the
// scaling prefix when scaling is on ("reverbd:webhooks"), as AsynqQueue.
func (c *Config) AsynqWebhookQueue() string {
	if c.ScalingEnabled {
		return c.ScalingPrefix + ":" + c.WebhookQueue
	}
	return c.WebhookQueue
}

// ScalingKeyPrefix starts every cluster key in Redis: the prefix as a hash tag, which keeps
// all of a deployment's keys in one Redis Cluster slot so multi-key scripts work there.
func (c *Config) ScalingKeyPrefix() string { return "{" + c.ScalingPrefix + "}" }

// ScalingPubSubChannel is the Redis pub/sub channel the nodes share.
func (c *Config) ScalingPubSubChannel() string { return c.ScalingPrefix + ":" + c.ScalingChannel }

// TLS reports whether the public port serves TLS itself (REVERB_SERVER_TLS_CERT and
// REVERB_SERVER_TLS_KEY are set).
func (c *Config) TLS() bool { return c.TLSCert != "" && c.TLSKey != "" }

// MetricsOn reports whether the process keeps and serves metrics: MetricsEnabled with the
// admin listener on.
func (c *Config) MetricsOn() bool { return c.MetricsEnabled && c.AdminPort != 0 }

// AdminAddr is the host:port the admin listener binds.
func (c *Config) AdminAddr() string {
	return net.JoinHostPort(c.AdminHost, strconv.Itoa(c.AdminPort))
}

// Addr is the host:port the public listener binds.
func (c *Config) Addr() string {
	return net.JoinHostPort(c.ServerHost, strconv.Itoa(c.ServerPort))
}

// ControlSocketAt is the control socket of a server bound to port: REVERB_CONTROL_SOCKET,
// or by default the abstract socket @reverbd-{port}.
func (c *Config) ControlSocketAt(port int) string {
	if c.ControlSocket != "" {
		return c.ControlSocket
	}
	return "@reverbd-" + strconv.Itoa(port)
}
