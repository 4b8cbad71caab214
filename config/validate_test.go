package config

import "testing"

func TestValidateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string // the whole environment; the env file is empty
		want    string   // a substring of the error
	}{
		{"port not a number", appEnv("REVERB_SERVER_PORT=abc"), `REVERB_SERVER_PORT: "abc" is not a number`},
		{"port set to empty", appEnv("REVERB_SERVER_PORT=empty"), `REVERB_SERVER_PORT: "" is not a number`},
		{"port huge", appEnv("REVERB_SERVER_PORT=99999999999999999999"), `REVERB_SERVER_PORT: "99999999999999999999" is out of range`},
		{"port too high", appEnv("REVERB_SERVER_PORT=70000"), "REVERB_SERVER_PORT must be between 0 and 65535, got 70000"},
		{"port negative", appEnv("REVERB_SERVER_PORT=-1"), "REVERB_SERVER_PORT must be between 0 and 65535"},
		{"public port", appEnv("REVERB_PORT=0"), "REVERB_PORT must be between 1 and 65535"},
		{"tls cert without key", appEnv("REVERB_SERVER_TLS_CERT=/etc/cert.pem"), "REVERB_SERVER_TLS_CERT and REVERB_SERVER_TLS_KEY go together"},
		{"tls key without cert", appEnv("REVERB_SERVER_TLS_KEY=/etc/key.pem"), "REVERB_SERVER_TLS_CERT and REVERB_SERVER_TLS_KEY go together"},
		{"max request size", appEnv("REVERB_MAX_REQUEST_SIZE=-1"), "REVERB_MAX_REQUEST_SIZE must be a number of bytes, or unset, got -1"},
		{"event data size", appEnv("REVERB_MAX_EVENT_DATA_SIZE=-1"), "REVERB_MAX_EVENT_DATA_SIZE must be 0 (unlimited) or more (bytes), got -1"},
		{"event data size not a number", appEnv("REVERB_MAX_EVENT_DATA_SIZE=10KB"), `REVERB_MAX_EVENT_DATA_SIZE: "10KB" is not a number`},
		{"channels per trigger", appEnv("REVERB_MAX_CHANNELS_PER_TRIGGER=-1"), "REVERB_MAX_CHANNELS_PER_TRIGGER must be 0 (unlimited) or more, got -1"},
		{"batch size", appEnv("REVERB_MAX_BATCH_SIZE=-10"), "REVERB_MAX_BATCH_SIZE must be 0 (unlimited) or more, got -10"},
		{"event name length", appEnv("REVERB_MAX_EVENT_NAME_LENGTH=-1"), "REVERB_MAX_EVENT_NAME_LENGTH must be 0 (unlimited) or more (characters), got -1"},
		{"channel name length", appEnv("REVERB_MAX_CHANNEL_NAME_LENGTH=-200"), "REVERB_MAX_CHANNEL_NAME_LENGTH must be 0 (unlimited) or more (characters), got -200"},
		{"timestamp window negative", appEnv("REVERB_HTTP_TIMESTAMP_WINDOW=-1s"), "REVERB_HTTP_TIMESTAMP_WINDOW must be 0s (not checked) or at least 1s, got -1s"},
		{"timestamp window under a second", appEnv("REVERB_HTTP_TIMESTAMP_WINDOW=500ms"), "REVERB_HTTP_TIMESTAMP_WINDOW must be 0s (not checked) or at least 1s, got 500ms"},
		{"timestamp window without unit", appEnv("REVERB_HTTP_TIMESTAMP_WINDOW=600"), `REVERB_HTTP_TIMESTAMP_WINDOW: "600" is not a duration`},
		{"bool", appEnv("REVERB_DEBUG=yes"), `REVERB_DEBUG: "yes" is not a boolean`},
		{"duration without unit", appEnv("REVERB_QUEUE_TIMEOUT=30"), `REVERB_QUEUE_TIMEOUT: "30" is not a duration`},
		{"queue connection", appEnv("REVERB_QUEUE_CONNECTION=sqs"), `REVERB_QUEUE_CONNECTION must be memory or redis, got "sqs"`},
		{"queue name blank", appEnv(`REVERB_QUEUE_NAME=" "`), "REVERB_QUEUE_NAME is blank"},
		{"queue name empty", appEnv("REVERB_QUEUE_NAME=empty"), "REVERB_QUEUE_NAME is blank"},
		{"queue timeout", appEnv("REVERB_QUEUE_TIMEOUT=500ms"), "REVERB_QUEUE_TIMEOUT must be at least 1s, got 500ms"},
		{"queue deadline", appEnv("REVERB_QUEUE_DEADLINE=0s"), "REVERB_QUEUE_DEADLINE must be at least 1s"},
		{"queue concurrency", appEnv("REVERB_QUEUE_CONCURRENCY=0"), "REVERB_QUEUE_CONCURRENCY must be 1 or more"},
		{"queue size", appEnv("REVERB_QUEUE_SIZE=0"), "REVERB_QUEUE_SIZE must be 1 or more"},
		{"metrics prefix dash", appEnv("REVERB_METRICS_PREFIX=my-app_"), `REVERB_METRICS_PREFIX must hold only letters, digits, underscores and colons, and not start with a digit, got "my-app_"`},
		{"metrics prefix digit first", appEnv("REVERB_METRICS_PREFIX=1x_"), `REVERB_METRICS_PREFIX must hold only`},
		{"redis port", appEnv("REDIS_PORT=0"), "REDIS_PORT must be between 1 and 65535"},
		{"redis db", appEnv("REDIS_DB=-1"), "REDIS_DB must be 0 or more"},
		{"redis scheme", appEnv("REDIS_SCHEME=udp"), `REDIS_SCHEME must be tcp or tls, got "udp"`},
		{"redis timeout zero", appEnv("REDIS_TIMEOUT=0"), "REDIS_TIMEOUT must be more than 0, got 0s"},
		{"redis timeout not a duration", appEnv("REDIS_TIMEOUT=5 s"), `REDIS_TIMEOUT: "5 s" is not a number of seconds (such as 5 or 2.5) or a duration`},
		{"redis timeout infinite", appEnv("REDIS_TIMEOUT=Inf"), `REDIS_TIMEOUT: "Inf" is out of range`},
		{"redis timeout huge", appEnv("REDIS_TIMEOUT=1e300"), `REDIS_TIMEOUT: "1e300" is out of range`},
		{"redis read timeout", appEnv("REDIS_READ_TIMEOUT=-1"), "REDIS_READ_TIMEOUT must be more than 0, got -1s"},
		{"redis write timeout", appEnv("REDIS_WRITE_TIMEOUT=0ms"), "REDIS_WRITE_TIMEOUT must be more than 0"},
		{"redis pool size", appEnv("REDIS_POOL_SIZE=-5"), "REDIS_POOL_SIZE must be 0 (go-redis's default) or more, got -5"},
		{"redis pool size not a number", appEnv("REDIS_POOL_SIZE=lots"), `REDIS_POOL_SIZE: "lots" is not a number`},
		{"bad redis url with addrs", appEnv("REVERB_QUEUE_CONNECTION=redis", "REDIS_ADDRS=a:1,b:2", "REDIS_URL=redis://u:hunter2@x/abc"), "REDIS_URL is not a valid redis:// URL"},
		{"cache ttl", appEnv("REVERB_CACHE_TTL=0s"), "REVERB_CACHE_TTL must be more than 0"},
		{"write buffer", appEnv("REVERB_WRITE_BUFFER_LIMIT=0"), "REVERB_WRITE_BUFFER_LIMIT must be 1 or more"},
		{"no app", nil, "no app configured"},
		{"shutdown delay negative", appEnv("REVERB_SHUTDOWN_DELAY=-1s"), "REVERB_SHUTDOWN_DELAY and REVERB_SHUTDOWN_DRAIN must be 0s or more, got -1s and 0s"},
		{"shutdown drain without unit", appEnv("REVERB_SHUTDOWN_DRAIN=15"), `REVERB_SHUTDOWN_DRAIN: "15" is not a duration`},
		{"shutdown timeout too short", appEnv("REVERB_SHUTDOWN_DELAY=10s", "REVERB_SHUTDOWN_DRAIN=20s"),
			"REVERB_SHUTDOWN_TIMEOUT (30s) must be longer than REVERB_SHUTDOWN_DELAY plus REVERB_SHUTDOWN_DRAIN (30s)"},
		{"poll interval", appEnv("REVERB_QUEUE_POLL_INTERVAL=100us"), "REVERB_QUEUE_POLL_INTERVAL must be at least 1ms"},
		{"scaling without redis", appEnv("REVERB_SCALING_ENABLED=true", "REVERB_QUEUE_CONNECTION=redis"),
			"REVERB_SCALING_ENABLED=true needs Redis: set REDIS_URL"},
		{"scaling on the memory queue", appEnv("REVERB_SCALING_ENABLED=true", "REDIS_URL=redis://127.0.0.1:6379/0"),
			"REVERB_SCALING_ENABLED=true needs REVERB_QUEUE_CONNECTION=redis"},
		{"scaling lease", appEnv("REVERB_SCALING_ENABLED=true", "REDIS_HOST=10.0.0.5", "REVERB_QUEUE_CONNECTION=redis", "REVERB_SCALING_LEASE=500ms"),
			"REVERB_SCALING_LEASE must be at least 1s"},
		{"no workers on the memory queue", appEnv("REVERB_QUEUE_WORKERS=false"), "REVERB_QUEUE_WORKERS=false needs REVERB_QUEUE_CONNECTION=redis"},
		{"admin port", appEnv("REVERB_ADMIN_PORT=70000"), "REVERB_ADMIN_PORT must be between 0 (off) and 65535"},
		{"worker admin port", appEnv("REVERB_WORKER_ADMIN_PORT=-1"), "REVERB_WORKER_ADMIN_PORT must be between 0 (off) and 65535"},
		{"worker admin without auth", appEnv("REVERB_WORKER_ADMIN_PORT=8082"),
			"REVERB_WORKER_ADMIN_PORT=8082 needs REVERB_ADMIN_USERNAME and REVERB_ADMIN_PASSWORD"},
		{"admin on a public address without auth", appEnv("REVERB_ADMIN_PORT=8081", "REVERB_ADMIN_HOST=0.0.0.0"),
			"REVERB_ADMIN_PORT=8081 needs REVERB_ADMIN_USERNAME and REVERB_ADMIN_PASSWORD"},
		{"admin on a public address, password missing", appEnv("REVERB_ADMIN_PORT=8081", "REVERB_ADMIN_HOST=10.1.2.3", "REVERB_ADMIN_USERNAME=ops"),
			"needs REVERB_ADMIN_USERNAME and REVERB_ADMIN_PASSWORD"},
		{"admin on loopback without auth", appEnv("REVERB_ADMIN_PORT=8081"),
			"REVERB_ADMIN_PORT=8081 needs REVERB_ADMIN_USERNAME and REVERB_ADMIN_PASSWORD"},
		{"admin on localhost, username missing", appEnv("REVERB_ADMIN_PORT=8081", "REVERB_ADMIN_HOST=localhost", "REVERB_ADMIN_PASSWORD=pw"),
			"needs REVERB_ADMIN_USERNAME and REVERB_ADMIN_PASSWORD"},
		{"bad redis url", appEnv("REVERB_QUEUE_CONNECTION=redis", "REDIS_URL=http://user:hunter2@example.com"), "REDIS_URL is not a valid redis:// URL"},
		{"bad redis db in url", appEnv("REVERB_QUEUE_CONNECTION=redis", "REDIS_URL=redis://127.0.0.1:6379/abc"), "REDIS_URL is not a valid redis:// URL"},
		{"missing secret", appEnv("REVERB_APP_SECRET=null"), "REVERB_APP_SECRET is not set"},
		{"missing id", appEnv("REVERB_APP_ID="), "REVERB_APP_ID is not set"},
		{"missing key", appEnv("REVERB_APP_KEY=(null)"), "REVERB_APP_KEY is not set"},
		{"blank key", appEnv(`REVERB_APP_KEY=" "`), "REVERB_APP_KEY is empty"},
		{"activity timeout", appEnv("REVERB_APP_ACTIVITY_TIMEOUT=0"), "REVERB_APP_ACTIVITY_TIMEOUT must be 1 or more (seconds), got 0"},
		{"ping interval", appEnv("REVERB_APP_PING_INTERVAL=0"), "REVERB_APP_PING_INTERVAL must be 1 or more (seconds), got 0"},
		{"pong timeout", appEnv("REVERB_APP_PONG_TIMEOUT=-1"), "REVERB_APP_PONG_TIMEOUT must be 0"},
		{"user authentication timeout", appEnv("REVERB_APP_USER_AUTHENTICATION_TIMEOUT=-1"), "REVERB_APP_USER_AUTHENTICATION_TIMEOUT must be 0 (off) or more (seconds), got -1"},
		{"watchlist size", appEnv("REVERB_APP_MAX_WATCHLIST_SIZE=-1"), "REVERB_APP_MAX_WATCHLIST_SIZE must be 0 (watchlist events off) or more (user ids), got -1"},
		{"presence member size", appEnv("REVERB_APP_MAX_PRESENCE_MEMBER_SIZE=-1"), "REVERB_APP_MAX_PRESENCE_MEMBER_SIZE must be 0 (unlimited) or more (bytes), got -1"},
		{"user id length", appEnv("REVERB_APP_MAX_USER_ID_LENGTH=-1"), "REVERB_APP_MAX_USER_ID_LENGTH must be 0 (unlimited) or more (characters), got -1"},
		{"max message size", appEnv("REVERB_APP_MAX_MESSAGE_SIZE=0"), "REVERB_APP_MAX_MESSAGE_SIZE must be 1 or more (bytes), got 0"},
		{"max connections", appEnv("REVERB_APP_MAX_CONNECTIONS=-1"), "REVERB_APP_MAX_CONNECTIONS must be 0 (unlimited) or more"},
		{"client events empty", appEnv("REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM=(empty)"), `REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM is empty: set members, all or none`},
		{"rate limit attempts", appEnv("REVERB_APP_RATE_LIMITING_ENABLED=true", "REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS=0"), "REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS must be 1 or more"},
		{"rate limit decay", appEnv("REVERB_APP_RATE_LIMITING_ENABLED=true", "REVERB_APP_RATE_LIMIT_DECAY_SECONDS=0"), "REVERB_APP_RATE_LIMIT_DECAY_SECONDS must be 1 or more"},
		{"rate limit decay not a number", appEnv("REVERB_APP_RATE_LIMIT_DECAY_SECONDS=1m"), `REVERB_APP_RATE_LIMIT_DECAY_SECONDS: "1m" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadEnv(t, "", tt.environ)
			wantError(t, err, tt.want)
		})
	}
}

func TestValidateHandBuilt(t *testing.T) {
	t.Parallel()
	c, err := loadEnv(t, "", appEnv())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate of a loaded config: %v", err)
	}
	c.Apps = append(c.Apps, App{ID: "2", Key: "key-1", Secret: testSecret})
	wantError(t, c.Validate(), `apps[0] (app_id "2"): ping_interval must be 1 or more`)
	c.Apps[1] = c.Apps[0]
	c.Apps[1].ID = "2"
	wantError(t, c.Validate(), `app key "key-1" is used twice: by REVERB_APP_KEY and by apps[0] (app_id "2"): key`)
}

// TestValidateAdminWithCredentials checks that the admin listener starts on loopback and on
// a public address once both credentials are set.
func TestValidateAdminWithCredentials(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"127.0.0.1", "0.0.0.0"} {
		_, err := loadEnv(t, "", appEnv("REVERB_ADMIN_PORT=8081", "REVERB_ADMIN_HOST="+host,
			"REVERB_ADMIN_USERNAME=ops", "REVERB_ADMIN_PASSWORD=pw"))
		if err != nil {
			t.Errorf("admin on %s with credentials: %v", host, err)
		}
	}
}
