package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWebhookSettingsDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(writeFile(t, ".env", ""), appEnv())
	if err != nil {
		t.Fatal(err)
	}
	if c.WebhookBatchWindow != 250*time.Millisecond || c.WebhookBatchSize != 20 || c.WebhookRetryFor != 5*time.Minute ||
		c.WebhookTimeout != 4*time.Second || c.WebhookVacatedDelay != 3*time.Second || c.AsynqWebhookQueue() != "webhooks" {
		t.Errorf("defaults: %s %d %s %s %s %q", c.WebhookBatchWindow, c.WebhookBatchSize, c.WebhookRetryFor,
			c.WebhookTimeout, c.WebhookVacatedDelay, c.AsynqWebhookQueue())
	}
	if len(c.Apps[0].Webhooks) != 0 || c.Apps[0].WantsWebhook(WebhookChannelOccupied) {
		t.Errorf("an app without a webhook URL has webhooks: %+v", c.Apps[0].Webhooks)
	}
}

func TestWebhookEnvApp(t *testing.T) {
	t.Parallel()
	c, err := Load(writeFile(t, ".env", ""), appEnv("REVERB_APP_WEBHOOK_URL=https://example.com/pusher/webhook",
		"REVERB_APP_WEBHOOK_EVENTS=channel_occupied, channel_vacated,"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Webhook{{URL: "https://example.com/pusher/webhook", EventTypes: []string{"channel_occupied", "channel_vacated"}}}
	if a := c.Apps[0]; !reflect.DeepEqual(a.Webhooks, want) {
		t.Errorf("webhooks %+v, want %+v", a.Webhooks, want)
	}
	a := &c.Apps[0]
	if !a.WantsWebhook(WebhookChannelVacated) || a.WantsWebhook(WebhookClientEvent) {
		t.Error("WantsWebhook does not follow REVERB_APP_WEBHOOK_EVENTS")
	}
	c, err = Load(writeFile(t, ".env", ""), appEnv("REVERB_APP_WEBHOOK_URL=http://127.0.0.1:9000/hook", "REVERB_SCALING_PREFIX=x"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Apps[0].WantsWebhook(WebhookCacheMiss) {
		t.Error("an empty REVERB_APP_WEBHOOK_EVENTS must take every type")
	}
}

func TestWebhookAppsFile(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "apps.json", `[{"app_id": "a", "key": "k", "secret": "s", "webhooks": [
		{"url": "https://example.com/a", "event_types": ["client_event"],
		 "filter": {"channel_name_starts_with": "private-", "channel_name_ends_with": "-chat"},
		 "headers": {"Authorization": "Bearer t"}},
		{"url": "http://example.com:8000/b"}]}]`)
	c, err := Load(writeFile(t, ".env", ""), []string{"REVERB_APPS_FILE=" + file})
	if err != nil {
		t.Fatal(err)
	}
	want := []Webhook{{
		URL: "https://example.com/a", EventTypes: []string{"client_event"},
		Filter:  WebhookFilter{ChannelNameStartsWith: "private-", ChannelNameEndsWith: "-chat"},
		Headers: map[string]string{"Authorization": "Bearer t"},
	}, {URL: "http://example.com:8000/b"}}
	if got := c.Apps[0].Webhooks; !reflect.DeepEqual(got, want) {
		t.Fatalf("webhooks %+v, want %+v", got, want)
	}
	w := &c.Apps[0].Webhooks[0]
	for ch, keep := range map[string]bool{"private-room-chat": true, "private-room": false, "presence-x-chat": false} {
		if w.Keeps(ch) != keep {
			t.Errorf("Keeps(%q) = %v, want %v", ch, !keep, keep)
		}
	}
	if !w.Wants(WebhookClientEvent) || w.Wants(WebhookMemberAdded) || !c.Apps[0].Webhooks[1].Wants(WebhookMemberAdded) {
		t.Error("Wants does not follow event_types")
	}
}

func TestWebhookValidateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		apps    string // the apps file, when set
		want    string
	}{
		{"batch window", appEnv("REVERB_WEBHOOK_BATCH_WINDOW=0s"), "", "REVERB_WEBHOOK_BATCH_WINDOW must be between 1ms and 1m0s, got 0s"},
		{"batch size", appEnv("REVERB_WEBHOOK_BATCH_SIZE=0"), "", "REVERB_WEBHOOK_BATCH_SIZE must be between 1 and 1000, got 0"},
		{"retry for", appEnv("REVERB_WEBHOOK_RETRY_FOR=-1s"), "", "REVERB_WEBHOOK_RETRY_FOR must be between 0s (one try) and 24h0m0s"},
		{"timeout", appEnv("REVERB_WEBHOOK_TIMEOUT=10ms"), "", "REVERB_WEBHOOK_TIMEOUT must be between 100ms and 1m0s, got 10ms"},
		{"timeout without unit", appEnv("REVERB_WEBHOOK_TIMEOUT=4"), "", `REVERB_WEBHOOK_TIMEOUT: "4" is not a duration`},
		{"vacated delay", appEnv("REVERB_WEBHOOK_VACATED_DELAY=-1s"), "", "REVERB_WEBHOOK_VACATED_DELAY must be between 0s and 1h0m0s"},
		{"queue blank", appEnv("REVERB_WEBHOOK_QUEUE=empty"), "", "REVERB_WEBHOOK_QUEUE is blank"},
		{"queue shared", appEnv("REVERB_QUEUE_CONNECTION=redis", "REDIS_URL=redis://127.0.0.1:6379/0", "REVERB_WEBHOOK_QUEUE=broadcasts"), "",
			`REVERB_WEBHOOK_QUEUE must differ from REVERB_QUEUE_NAME ("broadcasts")`},
		{"env url relative", appEnv("REVERB_APP_WEBHOOK_URL=/hook"), "", "REVERB_APP_WEBHOOK_URL must be an absolute http:// or https:// URL"},
		{"env url scheme", appEnv("REVERB_APP_WEBHOOK_URL=ftp://example.com/"), "", "REVERB_APP_WEBHOOK_URL must be an absolute http:// or https:// URL"},
		{"env url no host", appEnv("REVERB_APP_WEBHOOK_URL=http:///hook"), "", "REVERB_APP_WEBHOOK_URL has no host"},
		{"env events without url", appEnv("REVERB_APP_WEBHOOK_EVENTS=client_event"), "", "REVERB_APP_WEBHOOK_EVENTS needs REVERB_APP_WEBHOOK_URL"},
		{"env unknown event", appEnv("REVERB_APP_WEBHOOK_URL=https://example.com/", "REVERB_APP_WEBHOOK_EVENTS=channel_occupied,occupied"), "",
			`REVERB_APP_WEBHOOK_EVENTS: unknown event type "occupied"; the types are channel_occupied, channel_vacated`},
		{"file url missing", nil, `[{"app_id": "a", "key": "k", "secret": "s", "webhooks": [{"event_types": []}]}]`,
			`apps[0] (app_id "a"): webhooks[0].url is missing`},
		{"file url with a password", nil, `[{"app_id": "a", "key": "k", "secret": "s", "webhooks": [{"url": "https://example.com/"}, {"url": "gopher://u:hunter2@h/"}]}]`,
			`apps[0] (app_id "a"): webhooks[1].url must be an absolute http:// or https:// URL`},
		{"file unknown key", nil, `[{"app_id": "a", "key": "k", "secret": "s", "webhooks": [{"url": "https://example.com/", "filters": {}}]}]`,
			`unknown field "filters"`},
		{"file header name", nil, `[{"app_id": "a", "key": "k", "secret": "s", "webhooks": [{"url": "https://example.com/", "headers": {"X Token": "hunter2"}}]}]`,
			`webhooks[0].headers: "X Token" is not a valid header name`},
		{"file header value", nil, `[{"app_id": "a", "key": "k", "secret": "s", "webhooks": [{"url": "https://example.com/", "headers": {"X-Token": "hunter2\r\nX-Evil: 1"}}]}]`,
			`webhooks[0].headers: the value of X-Token holds a line break or NUL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			environ := tt.environ
			if tt.apps != "" {
				environ = append(environ, "REVERB_APPS_FILE="+writeFile(t, "apps.json", tt.apps))
			}
			_, err := Load(writeFile(t, ".env", ""), environ)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q repeats a secret", err)
			}
		})
	}
}
