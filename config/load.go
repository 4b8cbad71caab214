package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Load reads the env file, then environ (in os.Environ form; its variables win over the
// file's), applies Laravel's value rules, fills a Config from the envconfig tags, builds
// Config.Apps from REVERB_APP_* and REVERB_APPS_FILE, and validates the result.
//
// An empty envFile means ".env" in the working directory, which may be missing; a named file
// must exist. Load reads no environment but environ (see processVars for how envconfig is fed).
// It is safe for concurrent use.
func Load(envFile string, environ []string) (*Config, error) {
	vars, err := readVars(envFile, environ)
	if err != nil {
		return nil, err
	}
	c := new(Config)
	if err := processVars(c, vars); err != nil {
		return nil, err
	}
	_, hasURL := vars["REDIS_URL"]
	_, hasHost := vars["REDIS_HOST"]
	_, hasAddrs := vars["REDIS_ADDRS"]
	c.redisConfigured = hasURL || hasHost || hasAddrs
	if err := c.buildApps(); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// loadSeq numbers processVars calls, so concurrent Loads use distinct variable names.
var loadSeq atomic.Uint64

// processVars fills c's tagged fields from vars with envconfig.Process.
//
// envconfig v1.4.0 reads only the process environment (os.LookupEnv, with no hook for another
// source). Setting REVERB_SERVER_PORT and friends around the call would briefly change what
// any other goroutine of the process sees (a parallel test reading REDIS_URL, say). So each
// value goes into a private variable instead, named with a prefix unique to this call
// (REVERBD_LOAD_<n>_REVERB_SERVER_PORT), envconfig.Process runs with that prefix, and the
// private variables are removed again. Every tagged variable is set under the prefix, to its
// value or, when it is unset, to what envconfig would give it (its default, else the zero
// value), because envconfig falls back to the bare name when the prefixed one is missing.
func processVars(c *Config, vars map[string]string) error {
	prefix := "REVERBD_LOAD_" + strconv.FormatUint(loadSeq.Add(1), 10)
	var names []string
	defer func() {
		for _, name := range names {
			os.Unsetenv(name)
		}
	}()
	for _, v := range envVars() {
		value, ok := vars[v.key]
		if !ok {
			value = v.unset
		}
		name := prefix + "_" + v.key
		if err := os.Setenv(name, value); err != nil {
			return fmt.Errorf("config: %s: the value is not a valid environment value (a NUL byte?)", v.key)
		}
		names = append(names, name)
	}
	if err := envconfig.Process(prefix, c); err != nil {
		return parseError(err, prefix+"_")
	}
	return nil
}

// envVar is a variable named by an envconfig tag of Config.
type envVar struct {
	key   string // the tag: REVERB_SERVER_PORT
	unset string // what envconfig gives the field when the variable is unset, as text
}

// envVars lists the variables of Config's envconfig tags, in field order.
var envVars = sync.OnceValue(func() []envVar {
	var vars []envVar
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("envconfig")
		if key == "" || f.Tag.Get("ignored") == "true" {
			continue
		}
		unset := f.Tag.Get("default") // envconfig applies a non-empty default to an unset variable
		if unset == "" && f.Type.Kind() != reflect.String {
			unset = fmt.Sprint(reflect.Zero(f.Type).Interface()) // "0", "false", "0s"
		}
		vars = append(vars, envVar{key: key, unset: unset})
	}
	return vars
})

// parseError rephrases envconfig's error for a value that does not convert to its field's
// type, naming the variable without the private prefix. Only numbers, booleans and durations
// can fail, so the quoted value is never a secret.
func parseError(err error, prefix string) error {
	var pe *envconfig.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("config: %w", err)
	}
	key := strings.TrimPrefix(pe.KeyName, prefix)
	want := "a number"
	switch pe.TypeName {
	case "bool":
		want = "a boolean (true or false)"
	case "time.Duration":
		want = "a duration (such as 500ms, 30s or 5m)"
	case "config.Seconds":
		want = "a number of seconds (such as 5 or 2.5) or a duration (such as 500ms)"
	}
	if errors.Is(pe.Err, strconv.ErrRange) {
		return fmt.Errorf("config: %s: %q is out of range", key, pe.Value)
	}
	return fmt.Errorf("config: %s: %q is not %s", key, pe.Value, want)
}

// buildApps fills c.Apps: the REVERB_APP_* app first, if any, then the apps file's.
func (c *Config) buildApps() error {
	c.Apps = nil
	app, ok, err := c.envApp()
	if err != nil {
		return err
	}
	if ok {
		c.Apps = append(c.Apps, app)
	}
	if c.AppsFile != "" {
		apps, err := readAppsFile(c.AppsFile)
		if err != nil {
			return err
		}
		c.Apps = append(c.Apps, apps...)
	}
	return nil
}

// envApp returns the app defined by the REVERB_APP_* variables; ok is false when none of
// REVERB_APP_ID, REVERB_APP_KEY and REVERB_APP_SECRET is set. Setting some but not all of the
// three is an error naming the first missing one.
func (c *Config) envApp() (app App, ok bool, err error) {
	if c.AppID == "" && c.AppKey == "" && c.AppSecret == "" {
		if c.ChannelsFile != "" {
			return App{}, false, errors.New("config: REVERB_CHANNELS_FILE is the catalogue of the REVERB_APP_* app, and none is set; give an apps-file app channels_file instead")
		}
		return App{}, false, nil
	}
	for _, v := range []struct{ name, value string }{
		{"REVERB_APP_ID", c.AppID},
		{"REVERB_APP_KEY", c.AppKey},
		{"REVERB_APP_SECRET", c.AppSecret},
	} {
		if v.value == "" {
			return App{}, false, fmt.Errorf("config: %s is not set; REVERB_APP_ID, REVERB_APP_KEY and REVERB_APP_SECRET go together", v.name)
		}
	}
	channels, err := c.envCatalogue()
	if err != nil {
		return App{}, false, err
	}
	var webhooks []Webhook
	if c.AppWebhookURL != "" {
		webhooks = []Webhook{{URL: c.AppWebhookURL, EventTypes: splitList(c.AppWebhookEvents)}}
	} else if c.AppWebhookEvents != "" {
		return App{}, false, errors.New("config: REVERB_APP_WEBHOOK_EVENTS needs REVERB_APP_WEBHOOK_URL")
	}
	return App{
		ID:                        c.AppID,
		Key:                       c.AppKey,
		Secret:                    c.AppSecret,
		AllowedOrigins:            splitList(c.AppAllowedOrigins),
		PingInterval:              time.Duration(c.AppPingInterval) * time.Second,
		PongTimeout:               time.Duration(c.AppPongTimeout) * time.Second,
		ActivityTimeout:           time.Duration(c.AppActivityTimeout) * time.Second,
		UserAuthenticationTimeout: time.Duration(c.AppUserAuthTimeout) * time.Second,
		MaxMessageSize:            c.AppMaxMessageSize,
		MaxConnections:            c.AppMaxConnections,
		AcceptClientEventsFrom:    c.AppAcceptClientEvents,
		RateLimiting: RateLimiting{
			Enabled:          c.AppRateLimitEnabled,
			MaxAttempts:      c.AppRateLimitMax,
			DecaySeconds:     c.AppRateLimitDecay,
			TerminateOnLimit: c.AppRateLimitTerminate,
		},
		MaxSubscriptions:         c.AppMaxSubscriptions,
		MaxClientEventsPerSecond: c.AppMaxClientEventsPS,
		MaxPresenceMembers:       c.AppMaxPresenceMembers,
		MaxPresenceMemberSize:    c.AppMaxPresenceMemberSize,
		MaxUserIDLength:          c.AppMaxUserIDLength,
		SubscriptionCount:        c.AppSubscriptionCount,
		Channels:                 channels,
		ChannelsMode:             c.ChannelsMode,
		Webhooks:                 webhooks,
		MaxWatchlistSize:         c.AppMaxWatchlistSize,
	}, true, nil
}

// splitList splits a comma list, trimming spaces and dropping empty items.
func splitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}
