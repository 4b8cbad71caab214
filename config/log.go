package config

import (
	"log/slog"
	"strings"
)

// Log formats, the values of REVERB_LOG_FORMAT.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// SlogLevel is the lowest level to log: debug when Debug is set, otherwise LogLevel's (info
// when LogLevel is not valid; Validate reports it).
func (c *Config) SlogLevel() slog.Level {
	if c.Debug {
		return slog.LevelDebug
	}
	l, _ := parseLogLevel(c.LogLevel)
	return l
}

// JSONLogs reports whether log lines are JSON objects (REVERB_LOG_FORMAT=json, in any case).
func (c *Config) JSONLogs() bool { return strings.EqualFold(c.LogFormat, LogFormatJSON) }

// parseLogLevel reads a REVERB_LOG_LEVEL value, in any case; warning is warn, as Laravel's
// LOG_LEVEL writes it.
func parseLogLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return slog.LevelInfo, false
}

func validLogLevel(s string) bool {
	_, ok := parseLogLevel(s)
	return ok
}
