package config

import (
	"slices"
	"testing"
	"time"
)

// The HTTP API limits are read from their variables; 0 is accepted (no limit, or for the
// timestamp window not checked).
func TestLoadHTTPLimits(t *testing.T) {
	t.Parallel()
	c, err := loadEnv(t, "REVERB_MAX_EVENT_DATA_SIZE=65536\nREVERB_MAX_CHANNELS_PER_TRIGGER=0\n", appEnv(
		"REVERB_MAX_BATCH_SIZE=50", "REVERB_MAX_EVENT_NAME_LENGTH=0", "REVERB_MAX_CHANNEL_NAME_LENGTH=164",
		"REVERB_HTTP_TIMESTAMP_WINDOW=0"))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.MaxEventDataSize, c.MaxChannelsPerTrigger, c.MaxBatchSize, c.MaxEventNameLength, c.MaxChannelNameLength, c.HTTPTimestampWindow}
	want := []any{65536, 0, 50, 0, 164, time.Duration(0)}
	if !slices.Equal(got, want) {
		t.Errorf("limits %v, want %v", got, want)
	}
	c, err = loadEnv(t, "", appEnv("REVERB_HTTP_TIMESTAMP_WINDOW=30s"))
	if err != nil || c.HTTPTimestampWindow != 30*time.Second {
		t.Fatalf("REVERB_HTTP_TIMESTAMP_WINDOW=30s: %v, %v", c, err)
	}
}

// Any accept_client_events_from value but members, all and none starts the server, acts as
// none (ws refuses the client events of any other value), and is named in one warning line
// with the app.
func TestAcceptClientEventsOtherValueWarns(t *testing.T) {
	t.Parallel()
	apps := writeFile(t, "apps.json", `[{"app_id": "7", "key": "key-7", "secret": "`+testSecret+`", "accept_client_events_from": "Members"},
		{"app_id": "8", "key": "key-8", "secret": "`+testSecret+`", "accept_client_events_from": "none"}]`)
	c, err := loadEnv(t, "REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM=off\n", appEnv("REVERB_APPS_FILE="+apps))
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{c.Apps[0].AcceptClientEventsFrom, c.Apps[1].AcceptClientEventsFrom}; !slices.Equal(got, []string{"off", "Members"}) {
		t.Errorf("accept_client_events_from %q, want the values as given", got)
	}
	want := []string{
		`REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM is "off", not members, all or none: app "1001" refuses every client event with 4301, as with none`,
		`apps file ` + apps + `: apps[0] (app_id "7"): accept_client_events_from is "Members", not members, all or none: app "7" refuses every client event with 4301, as with none`,
	}
	if got := c.Warnings(); !slices.Equal(got, want) {
		t.Errorf("Warnings() =\n%q\nwant\n%q", got, want)
	}
	for _, v := range []string{"members", "all", "none"} {
		c, err := loadEnv(t, "", appEnv("REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM="+v))
		if err != nil {
			t.Fatal(err)
		}
		if w := c.Warnings(); len(w) != 0 {
			t.Errorf("%s: Warnings() = %q, want none", v, w)
		}
	}
}

// An event data limit that REVERB_MAX_REQUEST_SIZE cannot hold is named at start: Reverb's
// default request size, 10000 bytes, is below Pusher's 10 KiB of data.
func TestDataLimitOverRequestSizeWarns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  []string
		want []string
	}{
		{appEnv("REVERB_MAX_REQUEST_SIZE=10000"), []string{"REVERB_MAX_EVENT_DATA_SIZE (10240 bytes) does not fit REVERB_MAX_REQUEST_SIZE (10000 bytes, the whole request with its headers): a trigger with that much data gets 413 from the request size first"}},
		{appEnv("REVERB_MAX_REQUEST_SIZE=10240"), []string{"REVERB_MAX_EVENT_DATA_SIZE (10240 bytes) does not fit REVERB_MAX_REQUEST_SIZE (10240 bytes, the whole request with its headers): a trigger with that much data gets 413 from the request size first"}},
		{appEnv("REVERB_MAX_REQUEST_SIZE=10000", "REVERB_MAX_EVENT_DATA_SIZE=8000"), nil},
		{appEnv("REVERB_MAX_REQUEST_SIZE=10000", "REVERB_MAX_EVENT_DATA_SIZE=0"), nil},
		{appEnv("REVERB_MAX_EVENT_DATA_SIZE=1048576"), nil}, // unset: the body cap grows to fit
	} {
		c, err := loadEnv(t, "", tc.env)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Warnings(); !slices.Equal(got, tc.want) {
			t.Errorf("%v: Warnings() = %q, want %q", tc.env[3:], got, tc.want)
		}
	}
}
