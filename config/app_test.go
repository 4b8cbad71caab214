package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestAppLogValueHidesSecret(t *testing.T) {
	t.Parallel()
	app := App{ID: "1001", Key: "key-1", Secret: testSecret}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("app", "app", app)
		log.Info("app pointer", "app", &app)
		out := buf.String()
		if strings.Contains(out, testSecret) {
			t.Errorf("log output holds the secret: %s", out)
		}
		if !strings.Contains(out, "1001") || !strings.Contains(out, "key-1") {
			t.Errorf("log output lacks the id or key: %s", out)
		}
	}
}

func TestPongWindow(t *testing.T) {
	t.Parallel()
	tests := []struct{ ping, pong, want time.Duration }{
		{60 * time.Second, 0, 60 * time.Second},
		{60 * time.Second, 5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		a := App{PingInterval: tt.ping, PongTimeout: tt.pong}
		if got := a.PongWindow(); got != tt.want {
			t.Errorf("PongWindow with ping %v, pong %v = %v, want %v", tt.ping, tt.pong, got, tt.want)
		}
	}
}
