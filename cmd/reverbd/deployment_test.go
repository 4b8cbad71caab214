package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stopMargin is how much longer than REVERB_SHUTDOWN_TIMEOUT a process manager must wait
// before it sends SIGKILL: the stop starts after the signal arrives, and the Redis client
// closes last.
const stopMargin = 10 * time.Second

// The shipped process-manager files give reverbd's graceful stop, at the default
// REVERB_SHUTDOWN_TIMEOUT (which covers the delay and the drain), more time than the server
// itself allows it, so SIGKILL never cuts a drain short (sockets closed without their 4200).
func TestDeploymentStopTimeoutsExceedShutdownTimeout(t *testing.T) {
	shutdownTimeout := loadConfig(t).ShutdownTimeout
	for _, f := range []struct{ file, key string }{
		{"../../deployment/systemd/reverbd.service", "TimeoutStopSec"},
		{"../../deployment/supervisor/reverbd.conf", "stopwaitsecs"},
	} {
		secs := settingValue(t, f.file, f.key)
		n, err := strconv.Atoi(secs)
		if err != nil {
			t.Errorf("%s: %s=%q is not a number of seconds", f.file, f.key, secs)
			continue
		}
		if got := time.Duration(n) * time.Second; got < shutdownTimeout+stopMargin {
			t.Errorf("%s: %s=%d, want at least %s (shutdownTimeout %s + %s)", f.file, f.key, n,
				shutdownTimeout+stopMargin, shutdownTimeout, stopMargin)
		}
	}
}

// settingValue returns the value of the one uncommented key=value line of file.
func settingValue(t *testing.T, file, key string) string {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var values []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == key {
			values = append(values, strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(values) != 1 {
		t.Fatalf("%s: %d %s lines, want 1", file, len(values), key)
	}
	return values[0]
}

// `reverbd restart` makes the process drain and exit 0: the shipped files start it again
// after a clean exit too.
func TestDeploymentRestartsAfterACleanExit(t *testing.T) {
	for _, f := range []struct{ file, key, want string }{
		{"../../deployment/systemd/reverbd.service", "Restart", "always"},
		{"../../deployment/supervisor/reverbd.conf", "autorestart", "true"},
	} {
		if got := settingValue(t, f.file, f.key); got != f.want {
			t.Errorf("%s: %s=%s, want %s: reverbd restart would leave the server stopped", f.file, f.key, got, f.want)
		}
	}
}
