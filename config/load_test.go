package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testSecret is the secret of every test app; no error may ever contain it.
const testSecret = "s3cr3t-Zq9-never-shown"

// appEnv is the smallest environment that loads: the three REVERB_APP_* variables, then extra
// (a later entry wins, so extra can override them).
func appEnv(extra ...string) []string {
	return append([]string{"REVERB_APP_ID=1001", "REVERB_APP_KEY=key-1", "REVERB_APP_SECRET=" + testSecret}, extra...)
}

// defaultApp is an app with id, key and testSecret and every other setting at its default,
// as an apps file gives it (channels_mode left unset).
func defaultApp(id, key string) App {
	return App{
		ID:                       id,
		Key:                      key,
		Secret:                   testSecret,
		AllowedOrigins:           []string{"*"},
		PingInterval:             60 * time.Second,
		ActivityTimeout:          30 * time.Second,
		MaxMessageSize:           10000,
		AcceptClientEventsFrom:   ClientEventsMembers,
		RateLimiting:             RateLimiting{MaxAttempts: 60, DecaySeconds: 60},
		MaxSubscriptions:         1000,
		MaxClientEventsPerSecond: 10,
		MaxPresenceMemberSize:    1024,
		MaxUserIDLength:          128,
		MaxWatchlistSize:         100,
	}
}

// envApp is the app appEnv configures, every other setting at its default.
func envApp() App {
	a := defaultApp("1001", "key-1")
	a.ChannelsMode = ChannelsOff
	return a
}

// writeFile writes content to a file called name in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadEnv runs Load with dotenv as the env file and environ as the environment.
func loadEnv(t *testing.T, dotenv string, environ []string) (*Config, error) {
	t.Helper()
	return Load(writeFile(t, ".env", dotenv), environ)
}

// wantError fails unless err is a single-line error containing want and not the test secret.
func wantError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	msg := err.Error()
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
	if strings.Contains(msg, testSecret) {
		t.Errorf("error %q contains the app secret", msg)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q spans several lines", msg)
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := loadEnv(t, "", appEnv())
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		ServerHost:               "0.0.0.0",
		ServerPort:               8080,
		PublicPort:               443,
		Scheme:                   "https",
		MaxEventDataSize:         10240,
		MaxChannelsPerTrigger:    100,
		MaxBatchSize:             10,
		MaxEventNameLength:       200,
		MaxChannelNameLength:     200,
		HTTPTimestampWindow:      10 * time.Minute,
		AppID:                    "1001",
		AppKey:                   "key-1",
		AppSecret:                testSecret,
		AppPingInterval:          60,
		AppActivityTimeout:       30,
		AppMaxMessageSize:        10000,
		AppAcceptClientEvents:    "members",
		AppAllowedOrigins:        "*",
		AppRateLimitMax:          60,
		AppRateLimitDecay:        60,
		AppMaxSubscriptions:      1000,
		AppMaxClientEventsPS:     10,
		AppMaxPresenceMemberSize: 1024,
		AppMaxUserIDLength:       128,
		AppMaxWatchlistSize:      100,
		QueueConnection:          "memory",
		QueueName:                "broadcasts",
		QueueTimeout:             30 * time.Second,
		QueueDeadline:            60 * time.Second,
		QueueConcurrency:         1,
		QueueWorkers:             true,
		QueuePollInterval:        2 * time.Millisecond,
		AdminHost:                "127.0.0.1",
		MetricsEnabled:           true,
		MetricsPrefix:            "reverbd_",
		ScalingChannel:           "reverb",
		ScalingPrefix:            "reverbd",
		ScalingLease:             10 * time.Second,
		ShutdownTimeout:          30 * time.Second,
		QueueSize:                65536,
		RedisHost:                "127.0.0.1",
		RedisPort:                6379,
		RedisScheme:              "tcp",
		RedisTimeout:             Seconds(5 * time.Second),
		RedisReadTimeout:         Seconds(3 * time.Second),
		RedisWriteTimeout:        Seconds(3 * time.Second),
		WebhookBatchWindow:       250 * time.Millisecond,
		WebhookBatchSize:         20,
		WebhookRetryFor:          5 * time.Minute,
		WebhookTimeout:           4 * time.Second,
		WebhookVacatedDelay:      3 * time.Second,
		WebhookQueue:             "webhooks",
		CacheTTL:                 30 * time.Minute,
		WriteBufferLimit:         1048576,
		LogLevel:                 "info",
		LogFormat:                "text",
		ChannelsMode:             ChannelsOff,
		Apps:                     []App{envApp()},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", c, want)
	}
	if got := c.Addr(); got != "0.0.0.0:8080" {
		t.Errorf("Addr() = %q", got)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("Warnings() = %q, want none", w)
	}
}

func TestLoadEnvFileAndEnvironment(t *testing.T) {
	t.Parallel()
	dotenv := strings.Join([]string{
		"REVERB_APP_ID=file-id",
		"REVERB_APP_KEY=file-key",
		"REVERB_APP_SECRET=" + testSecret,
		"REVERB_SERVER_PORT=9000",
		"REVERB_QUEUE_NAME=from-file",
		"REVERB_APP_PING_INTERVAL=5",
		"REVERB_APP_ALLOWED_ORIGINS=example.com, *.example.com",
		"REVERB_MAX_REQUEST_SIZE=10000",
	}, "\n")
	c, err := loadEnv(t, dotenv, []string{"REVERB_APP_KEY=env-key", "REVERB_SERVER_PORT=9100", "UNRELATED=x"})
	if err != nil {
		t.Fatal(err)
	}
	a := c.Apps[0]
	got := []any{a.ID, a.Key, c.ServerPort, c.QueueName, a.PingInterval, a.AllowedOrigins, c.MaxRequestSize}
	want := []any{"file-id", "env-key", 9100, "from-file", 5 * time.Second, []string{"example.com", "*.example.com"}, int64(10000)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestLoadMissingEnvFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.env")
	_, err := Load(path, appEnv())
	wantError(t, err, "config: env file: open "+path)
}

func TestLoadEnvFileSyntaxErrorHidesSecret(t *testing.T) {
	t.Parallel()
	_, err := loadEnv(t, `REVERB_APP_SECRET="`+testSecret+"\n", appEnv())
	wantError(t, err, "unterminated quoted value")
	_, err = loadEnv(t, "REVERB_APP_SECRET="+testSecret+"\nBAD(NAME)=1\n", nil)
	wantError(t, err, "in variable name")
}

// TestLoadDefaultEnvFile changes the working directory, so it must not run in parallel.
func TestLoadDefaultEnvFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)

	// No ./.env: fine.
	c, err := Load("", appEnv())
	if err != nil {
		t.Fatal(err)
	}
	if c.ServerPort != 8080 {
		t.Errorf("ServerPort = %d, want 8080", c.ServerPort)
	}

	// ./.env is read.
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("REVERB_SERVER_PORT=9001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load("", appEnv())
	if err != nil {
		t.Fatal(err)
	}
	if c.ServerPort != 9001 {
		t.Errorf("ServerPort = %d, want 9001 from ./.env", c.ServerPort)
	}
}

// TestLoadIgnoresProcessEnvironment sets process variables, so it must not run in parallel.
func TestLoadIgnoresProcessEnvironment(t *testing.T) {
	t.Setenv("REVERB_QUEUE_NAME", "from-process")
	t.Setenv("REVERB_SERVER_PORT", "not-a-number")
	before := len(os.Environ())
	c, err := loadEnv(t, "", appEnv())
	if err != nil {
		t.Fatal(err) // only environ may be read, not the process environment
	}
	if c.QueueName != "broadcasts" {
		t.Errorf("QueueName = %q: Load read the process environment", c.QueueName)
	}
	if got := os.Getenv("REVERB_QUEUE_NAME"); got != "from-process" {
		t.Errorf("REVERB_QUEUE_NAME = %q after Load", got)
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REVERBD_LOAD_") || strings.HasPrefix(kv, "REVERB_APP_") {
			t.Errorf("Load left %s in the process environment", kv)
		}
	}
	if after := len(os.Environ()); after != before {
		t.Errorf("the environment had %d variables before Load, %d after", before, after)
	}
}

// TestLoadEnvAppOptions checks that the REVERB_APP_* options reach the env app.
func TestLoadEnvAppOptions(t *testing.T) {
	t.Parallel()
	c, err := loadEnv(t, "", appEnv("REVERB_APP_USER_AUTHENTICATION_TIMEOUT=15",
		"REVERB_APP_MAX_PRESENCE_MEMBER_SIZE=0", "REVERB_APP_MAX_USER_ID_LENGTH=64"))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Apps[0]
	if a.UserAuthenticationTimeout != 15*time.Second || a.MaxPresenceMemberSize != 0 || a.MaxUserIDLength != 64 {
		t.Errorf("UserAuthenticationTimeout %v, MaxPresenceMemberSize %d, MaxUserIDLength %d; want 15s, 0, 64",
			a.UserAuthenticationTimeout, a.MaxPresenceMemberSize, a.MaxUserIDLength)
	}
}
