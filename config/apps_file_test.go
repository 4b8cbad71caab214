package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAppsFile(t *testing.T) {
	t.Parallel()
	secret := `"secret": "` + testSecret + `"`
	defaults := defaultApp("a", "key-a")
	withID := func(a App, id string) App { a.ID = id; return a }
	tests := []struct {
		name    string
		apps    string   // the apps file
		environ []string // besides REVERB_APPS_FILE
		want    []App    // Config.Apps, when wantErr is empty
		wantErr string
	}{{
		name: "defaults",
		apps: `[{"app_id": "a", "key": "key-a", ` + secret + `}]`,
		want: []App{defaults},
	}, {
		name: "every key",
		apps: `[{"app_id": "a", "key": "key-a", ` + secret + `, "allowed_origins": ["example.com"],
			"ping_interval": 10, "pong_timeout": 5, "activity_timeout": 20, "user_authentication_timeout": 15, "max_message_size": 500,
			"max_connections": 7, "accept_client_events_from": "none",
			"rate_limiting": {"enabled": true, "max_attempts": 3, "decay_seconds": 4, "terminate_on_limit": true},
			"max_subscriptions": 5, "max_client_events_per_second": 0, "max_presence_members": 9,
			"max_presence_member_size": 0, "max_user_id_length": 64, "subscription_count": true,
			"max_watchlist_size": 0}]`,
		want: []App{{
			ID: "a", Key: "key-a", Secret: testSecret, AllowedOrigins: []string{"example.com"},
			PingInterval: 10 * time.Second, PongTimeout: 5 * time.Second, ActivityTimeout: 20 * time.Second,
			UserAuthenticationTimeout: 15 * time.Second,
			MaxMessageSize:            500, MaxConnections: 7, AcceptClientEventsFrom: ClientEventsNone,
			RateLimiting:     RateLimiting{Enabled: true, MaxAttempts: 3, DecaySeconds: 4, TerminateOnLimit: true},
			MaxSubscriptions: 5, MaxClientEventsPerSecond: 0, MaxPresenceMembers: 9,
			MaxPresenceMemberSize: 0, MaxUserIDLength: 64, SubscriptionCount: true,
			MaxWatchlistSize: 0,
		}},
	}, {
		name: "rate limiting defaults",
		apps: `[{"app_id": "a", "key": "key-a", ` + secret + `, "rate_limiting": {"enabled": true}, "max_connections": null}]`,
		want: []App{func() App { a := defaults; a.RateLimiting.Enabled = true; return a }()},
	}, {
		name: "numeric id",
		apps: `[{"app_id": 3, "key": "key-a", ` + secret + `}]`,
		want: []App{withID(defaults, "3")},
	}, {
		name:    "after the env app",
		apps:    `[{"app_id": "a", "key": "key-a", ` + secret + `}]`,
		environ: appEnv(),
		want:    []App{envApp(), defaults},
	}, {
		name:    "unknown field",
		apps:    `[{"app_id": "a", "key": "key-a", ` + secret + `, "pingInterval": 5}]`,
		wantErr: `apps[0]: unknown field "pingInterval"`,
	}, {
		name:    "unknown rate limiting field",
		apps:    `[{"app_id": "a", "key": "key-a", ` + secret + `, "rate_limiting": {"max": 1}}]`,
		wantErr: `apps[0]: unknown field "max"`,
	}, {
		name:    "duplicate id with env app",
		apps:    `[{"app_id": 1001, "key": "key-a", ` + secret + `}]`,
		environ: appEnv(),
		wantErr: `app id "1001" is used twice: by REVERB_APP_ID and by apps file `,
	}, {
		name:    "duplicate key with env app",
		apps:    `[{"app_id": "a", "key": "key-1", ` + secret + `}]`,
		environ: appEnv(),
		wantErr: `app key "key-1" is used twice: by REVERB_APP_KEY and by apps file `,
	}, {
		name:    "duplicate id in the file",
		apps:    `[{"app_id": "a", "key": "key-a", ` + secret + `}, {"app_id": "a", "key": "key-b", ` + secret + `}]`,
		wantErr: `app id "a" is used twice: by apps file `,
	}, {
		name:    "empty accept_client_events_from",
		apps:    `[{"app_id": "a", "key": "key-a", ` + secret + `}, {"app_id": "b", "key": "key-b", ` + secret + `, "accept_client_events_from": ""}]`,
		environ: appEnv(),
		wantErr: `apps[1] (app_id "b"): accept_client_events_from is empty: set members, all or none`,
	}, {
		name:    "missing secret",
		apps:    `[{"app_id": "a", "key": "key-a"}]`,
		wantErr: `apps[0] (app_id "a"): secret is missing`,
	}, {
		name:    "empty key",
		apps:    `[{"app_id": "a", "key": "", ` + secret + `}]`,
		wantErr: `apps[0] (app_id "a"): key is empty`,
	}, {
		name:    "missing id",
		apps:    `[{"key": "key-a", ` + secret + `}]`,
		wantErr: `apps[0] (app_id ""): app_id is missing`,
	}, {
		name:    "ping interval",
		apps:    `[{"app_id": "a", "key": "key-a", ` + secret + `, "ping_interval": 0}]`,
		wantErr: `apps[0] (app_id "a"): ping_interval must be 1 or more`,
	}, {
		name:    "activity timeout",
		apps:    `[{"app_id": "a", "key": "key-a", ` + secret + `, "activity_timeout": -1}]`,
		wantErr: `apps[0] (app_id "a"): activity_timeout must be 1 or more`,
	}, {
		name:    "max message size",
		apps:    `[{"app_id": "a", "key": "key-a", ` + secret + `, "max_message_size": 0}]`,
		wantErr: `apps[0] (app_id "a"): max_message_size must be 1 or more`,
	}, {
		name:    "rate limiting attempts",
		apps:    `[{"app_id": "a", "key": "key-a", ` + secret + `, "rate_limiting": {"enabled": true, "max_attempts": 0}}]`,
		wantErr: `apps[0] (app_id "a"): rate_limiting.max_attempts must be 1 or more`,
	}, {
		name:    "string for a number",
		apps:    `[{"app_id": "a", "key": "key-a", ` + secret + `, "ping_interval": "60"}]`,
		wantErr: `apps[0]: ping_interval: want an integer, got a JSON string`,
	}, {
		name:    "nested type",
		apps:    `[{"app_id": "a", "key": "key-a", ` + secret + `, "rate_limiting": {"enabled": "yes"}}]`,
		wantErr: `apps[0]: rate_limiting.enabled: want true or false, got a JSON string`,
	}, {
		name:    "numeric secret is not repeated",
		apps:    `[{"app_id": "a", "key": "key-a", "secret": 987654321}]`,
		wantErr: `apps[0]: secret: want a string, got a JSON number`,
	}, {
		name:    "fractional id",
		apps:    `[{"app_id": 3.5, "key": "key-a", ` + secret + `}]`,
		wantErr: `apps[0]: app_id must be a string or an integer`,
	}, {
		name:    "not an array",
		apps:    `{"app_id": "a", "key": "key-a", ` + secret + `}`,
		wantErr: `want a JSON array of apps, got a JSON object`,
	}, {
		name:    "element not an object",
		apps:    `["a"]`,
		wantErr: `apps[0]: want an object, got a JSON string`,
	}, {
		name:    "invalid JSON",
		apps:    `[{"app_id": "a", "secret": "` + testSecret + `",}]`,
		wantErr: `invalid JSON at byte`,
	}, {
		name:    "empty",
		apps:    `[]`,
		wantErr: `no app configured`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "apps.json", tt.apps)
			c, err := loadEnv(t, "", append(tt.environ, "REVERB_APPS_FILE="+path))
			if tt.wantErr != "" {
				wantError(t, err, tt.wantErr)
				if err != nil && strings.Contains(err.Error(), "987654321") {
					t.Errorf("error %q repeats a value from the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Apps, tt.want) {
				t.Errorf("Apps =\n%+v\nwant\n%+v", c.Apps, tt.want)
			}
		})
	}
}

func TestAppsFileMissing(t *testing.T) {
	t.Parallel()
	_, err := loadEnv(t, "REVERB_APPS_FILE=/nonexistent/apps.json", appEnv())
	wantError(t, err, "REVERB_APPS_FILE: open /nonexistent/apps.json")
}
