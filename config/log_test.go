package config

import (
	"log/slog"
	"testing"
)

// REVERB_LOG_LEVEL and REVERB_LOG_FORMAT take their values in any case; REVERB_DEBUG wins
// over the level.
func TestLogSettings(t *testing.T) {
	t.Parallel()
	empty := writeFile(t, ".env", "")
	tests := []struct {
		environ []string
		level   slog.Level
		json    bool
	}{
		{appEnv(), slog.LevelInfo, false},
		{appEnv("REVERB_LOG_LEVEL=debug"), slog.LevelDebug, false},
		{appEnv("REVERB_LOG_LEVEL=WARN", "REVERB_LOG_FORMAT=json"), slog.LevelWarn, true},
		{appEnv("REVERB_LOG_LEVEL=warning", "REVERB_LOG_FORMAT=JSON"), slog.LevelWarn, true},
		{appEnv("REVERB_LOG_LEVEL=error", "REVERB_LOG_FORMAT=text"), slog.LevelError, false},
		{appEnv("REVERB_LOG_LEVEL=error", "REVERB_DEBUG=true"), slog.LevelDebug, false},
		{appEnv("REVERB_LOG_LEVEL=null", "REVERB_LOG_FORMAT="), slog.LevelInfo, false}, // unset: the defaults
	}
	for _, tc := range tests {
		c, err := Load(empty, tc.environ)
		if err != nil {
			t.Errorf("%q: %v", tc.environ[3:], err)
			continue
		}
		if got := c.SlogLevel(); got != tc.level {
			t.Errorf("%q: level %v, want %v", tc.environ[3:], got, tc.level)
		}
		if got := c.JSONLogs(); got != tc.json {
			t.Errorf("%q: JSON %v, want %v", tc.environ[3:], got, tc.json)
		}
	}
}

func TestLogSettingsRefused(t *testing.T) {
	t.Parallel()
	empty := writeFile(t, ".env", "")
	for _, tc := range []struct{ env, want string }{
		{"REVERB_LOG_LEVEL=verbose", `config: REVERB_LOG_LEVEL must be debug, info, warn or error, got "verbose"`},
		{"REVERB_LOG_LEVEL=empty", `config: REVERB_LOG_LEVEL must be debug, info, warn or error, got ""`},
		{"REVERB_LOG_FORMAT=logfmt", `config: REVERB_LOG_FORMAT must be text or json, got "logfmt"`},
	} {
		_, err := Load(empty, appEnv(tc.env))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.env, err, tc.want)
		}
	}
}
