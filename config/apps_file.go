package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/reverbd/reverbd/config/catalogue"
)

// Defaults of the apps file for a key an app leaves out; the same as Reverb's config/reverb.php
// and the REVERB_APP_* defaults.
const (
	defaultPingInterval    = 60 // seconds
	defaultActivityTimeout = 30 // seconds
	defaultMaxMessageSize  = 10000
	defaultRateLimitMax    = 60
	defaultRateLimitDecay  = 60 // seconds
	// defaultMaxSubscriptions and defaultMaxClientEventsPerSecond are far above what an
	// ordinary app uses; 10 client events per second is Pusher's own limit
	// (https://pusher.com/docs/channels/using_channels/events/#triggering-client-events).
	defaultMaxSubscriptions         = 1000
	defaultMaxClientEventsPerSecond = 10
	// Pusher's presence limits: user_info at most 1 KB, user_id at most 128 characters
	// (https://pusher.com/docs/channels/using_channels/presence-channels/).
	defaultMaxPresenceMemberSize = 1024
	defaultMaxUserIDLength       = 128
	// The usual size of a watchlist on Pusher: 100 user ids.
	defaultMaxWatchlistSize = 100
)

// fileApp is one element of the apps file. Pointers tell a missing key from a zero.
type fileApp struct {
	AppID          appID     `json:"app_id"`
	Key            string    `json:"key"`
	Secret         string    `json:"secret"`
	AllowedOrigins *[]string `json:"allowed_origins"` // missing: ["*"]
	// Durations in whole seconds.
	PingInterval    *int `json:"ping_interval"`
	PongTimeout     *int `json:"pong_timeout"` // missing or 0: the ping interval
	ActivityTimeout *int `json:"activity_timeout"`
	// UserAuthenticationTimeout is missing or 0: authorized connections off.
	UserAuthenticationTimeout *int `json:"user_authentication_timeout"`
	MaxMessageSize            *int `json:"max_message_size"`
	MaxConnections            *int `json:"max_connections"` // missing or null: unlimited
	// AcceptClientEventsFrom defaults to "members", as REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM
	// does: a socket not subscribed to a channel never injects events into it.
	AcceptClientEventsFrom   *string           `json:"accept_client_events_from"`
	RateLimiting             *fileRateLimiting `json:"rate_limiting"`
	MaxSubscriptions         *int              `json:"max_subscriptions"`            // missing: 1000
	MaxClientEventsPerSecond *int              `json:"max_client_events_per_second"` // missing: 10
	MaxPresenceMembers       *int              `json:"max_presence_members"`         // missing: unlimited
	MaxPresenceMemberSize    *int              `json:"max_presence_member_size"`     // missing: 1024
	MaxUserIDLength          *int              `json:"max_user_id_length"`           // missing: 128
	SubscriptionCount        bool              `json:"subscription_count"`           // missing: off
	// ChannelsFile (a path, relative to the apps file's directory) or Channels (the list a
	// catalogue file holds, inline) is the app's channel catalogue; ChannelsMode is how it is
	// enforced: off (missing), warn or strict.
	ChannelsFile     *string         `json:"channels_file"`
	Channels         json.RawMessage `json:"channels"`
	ChannelsMode     *string         `json:"channels_mode"`
	Webhooks         []Webhook       `json:"webhooks"`           // missing: none
	MaxWatchlistSize *int            `json:"max_watchlist_size"` // missing: 100; 0: off
}

// fileRateLimiting is an app's rate_limiting object in the apps file.
type fileRateLimiting struct {
	Enabled          bool `json:"enabled"`
	MaxAttempts      *int `json:"max_attempts"`
	DecaySeconds     *int `json:"decay_seconds"`
	TerminateOnLimit bool `json:"terminate_on_limit"`
}

// appID is an app_id given as a JSON string or integer ("app_id": 3 means "3").
type appID string

// UnmarshalJSON accepts a string or an integer.
func (id *appID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*id = appID(s)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("app_id must be a string or an integer")
	}
	*id = appID(strconv.FormatInt(n, 10))
	return nil
}

// readAppsFile reads the JSON array of apps in the file at path. It rejects unknown keys, so
// a misspelt one is not silently ignored. Values are checked later by Validate.
func readAppsFile(path string) ([]App, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: REVERB_APPS_FILE: %w", err) // *fs.PathError names the file
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("config: apps file %s: want a JSON array of apps, got a JSON %s", path, jsonKind(te.Value))
		}
		return nil, fmt.Errorf("config: apps file %s: %s", path, jsonProblem(err))
	}
	apps := make([]App, 0, len(raws))
	for i, raw := range raws {
		var f fileApp
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("config: apps file %s: apps[%d]: %s", path, i, jsonProblem(err))
		}
		a := f.app()
		cat, err := f.catalogue(filepath.Dir(path))
		if err != nil {
			return nil, fmt.Errorf("config: apps file %s: apps[%d] (app_id %q): %w", path, i, a.ID, err)
		}
		a.Channels = cat
		apps = append(apps, a)
	}
	return apps, nil
}

// app converts f, filling the defaults of the keys it leaves out.
func (f *fileApp) app() App {
	a := App{
		ID:                        string(f.AppID),
		Key:                       f.Key,
		Secret:                    f.Secret,
		AllowedOrigins:            []string{"*"},
		PingInterval:              seconds(f.PingInterval, defaultPingInterval),
		PongTimeout:               seconds(f.PongTimeout, 0),
		ActivityTimeout:           seconds(f.ActivityTimeout, defaultActivityTimeout),
		UserAuthenticationTimeout: seconds(f.UserAuthenticationTimeout, 0),
		MaxMessageSize:            intOr(f.MaxMessageSize, defaultMaxMessageSize),
		MaxConnections:            intOr(f.MaxConnections, 0),
		AcceptClientEventsFrom:    ClientEventsMembers,
		RateLimiting:              RateLimiting{MaxAttempts: defaultRateLimitMax, DecaySeconds: defaultRateLimitDecay},
		MaxSubscriptions:          intOr(f.MaxSubscriptions, defaultMaxSubscriptions),
		MaxClientEventsPerSecond:  intOr(f.MaxClientEventsPerSecond, defaultMaxClientEventsPerSecond),
		MaxPresenceMembers:        intOr(f.MaxPresenceMembers, 0),
		MaxPresenceMemberSize:     intOr(f.MaxPresenceMemberSize, defaultMaxPresenceMemberSize),
		MaxUserIDLength:           intOr(f.MaxUserIDLength, defaultMaxUserIDLength),
		SubscriptionCount:         f.SubscriptionCount,
		Webhooks:                  f.Webhooks,
		MaxWatchlistSize:          intOr(f.MaxWatchlistSize, defaultMaxWatchlistSize),
	}
	if f.AllowedOrigins != nil {
		a.AllowedOrigins = *f.AllowedOrigins
	}
	if f.ChannelsMode != nil {
		a.ChannelsMode = *f.ChannelsMode
	}
	if f.AcceptClientEventsFrom != nil {
		a.AcceptClientEventsFrom = *f.AcceptClientEventsFrom
	}
	if r := f.RateLimiting; r != nil {
		a.RateLimiting = RateLimiting{
			Enabled:          r.Enabled,
			MaxAttempts:      intOr(r.MaxAttempts, defaultRateLimitMax),
			DecaySeconds:     intOr(r.DecaySeconds, defaultRateLimitDecay),
			TerminateOnLimit: r.TerminateOnLimit,
		}
	}
	return a
}

// catalogue loads the app's channel catalogue from channels_file (relative to dir) or the
// inline channels; nil when it has neither.
func (f *fileApp) catalogue(dir string) (*catalogue.Catalogue, error) {
	inline := len(f.Channels) > 0 && string(f.Channels) != "null"
	switch {
	case f.ChannelsFile != nil && inline:
		return nil, errors.New("channels_file and channels go apart: give the catalogue's file or its list, not both")
	case f.ChannelsFile != nil:
		path := *f.ChannelsFile
		if path == "" {
			return nil, errors.New("channels_file is empty")
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		cat, err := loadCatalogue(path)
		if err != nil {
			return nil, fmt.Errorf("channels_file: %w", err)
		}
		return cat, nil
	case inline:
		cat, err := parseCatalogue(f.Channels)
		if err != nil {
			return nil, fmt.Errorf("channels: %w", err)
		}
		return cat, nil
	}
	return nil, nil
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func seconds(p *int, def int) time.Duration {
	return time.Duration(intOr(p, def)) * time.Second
}

// jsonProblem describes a decoding error in words that never repeat a value from the file:
// encoding/json's type errors quote numbers ("number 12345"), and that number may be a secret.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		problem := fmt.Sprintf("want %s, got a JSON %s", goKind(te.Type), jsonKind(te.Value))
		if te.Field != "" {
			problem = te.Field + ": " + problem
		}
		return problem
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of JSON"
	}
	return strings.TrimPrefix(err.Error(), "json: ") // e.g. unknown field "pingInterval"
}

// jsonKind is the first word of an UnmarshalTypeError's Value: "number 12345" → "number".
func jsonKind(value string) string {
	kind, _, _ := strings.Cut(value, " ")
	return kind
}

// goKind names the JSON a Go type wants.
func goKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return goKind(t.Elem())
	}
	return "an integer"
}
