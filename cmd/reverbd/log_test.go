package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/reverbd/reverbd/config"
)

// jsonLog is the log of a command started with REVERB_LOG_FORMAT=json, one object a line.
type jsonLog struct{ c *command }

// lines decodes every line logged so far; a line that is not JSON fails the test.
func (l jsonLog) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, raw := range strings.Split(strings.TrimSpace(l.c.log.String()), "\n") {
		var line map[string]any
		if err := json.Unmarshal([]byte(raw), &line); err != nil {
			t.Fatalf("log line is not JSON: %q", raw)
		}
		out = append(out, line)
	}
	return out
}

// wait waits up to 5 s for a line with msg and the fields of want, and returns it.
func (l jsonLog) wait(t *testing.T, msg string, want map[string]any) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
	lines:
		for _, line := range l.lines(t) {
			if line["msg"] != msg {
				continue
			}
			for k, v := range want {
				if line[k] != v {
					continue lines
				}
			}
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q line with %v:\n%s", msg, want, l.c.log.String())
		}
	}
}

// With --debug and JSON logs, a socket's whole life through the real listener and a trigger
// through the HTTP API and each queue backend are logged: the open, the subscribe (its
// signature redacted), subscription_succeeded, the event's frame, the delivery's latency,
// and the close with its code.
func TestDebugLogOfAConnection(t *testing.T) {
	for name, env := range backends(t) {
		t.Run(name, func(t *testing.T) {
			envFile := appEnvFile(t, append(env, "REVERB_LOG_FORMAT=json")...)
			c := startCommand(t, "start", "--env-file", envFile, "--host", "127.0.0.1", "--port", "0", "--debug")
			log := jsonLog{c}
			p := &process{addr: c.addr}
			client := p.dial(t)
			id := client.socketID
			log.wait(t, "connection opened", map[string]any{"app_id": e2eID, "socket_id": id})
			log.wait(t, "frame queued", map[string]any{"socket_id": id, "event": "pusher:connection_established"})

			client.subscribe("private-orders")
			auth := authFor(id, "private-orders")
			in := log.wait(t, "message received", map[string]any{"socket_id": id, "event": "pusher:subscribe", "channel": "private-orders"})
			if data, _ := in["data"].(string); !strings.Contains(data, `"auth":"`+e2eKey+`:[redacted]"`) {
				t.Errorf("subscribe logged with data %q, want the signature redacted", data)
			}
			log.wait(t, "frame queued", map[string]any{"socket_id": id, "event": "pusher_internal:subscription_succeeded", "channel": "private-orders"})

			if err := p.sdk(t).Trigger("private-orders", "order.paid", map[string]any{"id": 7}); err != nil {
				t.Fatal(err)
			}
			if ev, _ := client.read(); ev != "order.paid" {
				t.Fatalf("got %s, want order.paid", ev)
			}
			log.wait(t, "frame queued", map[string]any{"socket_id": id, "event": "order.paid", "channel": "private-orders", "data": `{"id":7}`})
			delivered := log.wait(t, "event delivered", map[string]any{"app_id": e2eID, "event": "order.paid"})
			if latency, _ := delivered["latency"].(float64); latency <= 0 || latency > float64(5*time.Second) {
				t.Errorf("latency %v ns, want the time from the trigger to the fan-out", delivered["latency"])
			}

			if err := wsutil.WriteClientMessage(client.conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")); err != nil {
				t.Fatal(err)
			}
			if ev, _ := client.read(); ev != "close:1000" {
				t.Fatalf("got %s, want the close echoed", ev)
			}
			log.wait(t, "connection closed", map[string]any{"socket_id": id, "code": 1000.0})

			if sig := auth[len(e2eKey)+1:]; strings.Contains(c.log.String(), sig) {
				t.Errorf("the log holds the subscribe's signature:\n%s", c.log.String())
			}
		})
	}
}

// REVERB_LOG_LEVEL=debug without --debug logs the same lines, as text.
func TestDebugLogAsText(t *testing.T) {
	envFile := appEnvFile(t, "REVERB_LOG_LEVEL=debug", "REVERB_LOG_FORMAT=text")
	c := startCommand(t, "start", "--env-file", envFile, "--host", "127.0.0.1", "--port", "0")
	client := (&process{addr: c.addr}).dial(t)
	c.waitLog(t, `level=DEBUG msg="connection opened" component=ws app_id=`+e2eID+` socket_id=`+client.socketID, 5*time.Second)
	c.waitLog(t, `level=DEBUG msg="frame queued" component=ws app_id=`+e2eID+` socket_id=`+client.socketID+` event=pusher:connection_established`, 5*time.Second)
}

// Without debug, a connection and its messages leave no line.
func TestNoDebugLogByDefault(t *testing.T) {
	c := startCommand(t, "start", "--env-file", appEnvFile(t), "--host", "127.0.0.1", "--port", "0")
	p := &process{addr: c.addr}
	client := p.dial(t)
	client.subscribe("orders")
	if err := p.sdk(t).Trigger("orders", "order.paid", "{}"); err != nil {
		t.Fatal(err)
	}
	client.read()
	if log := c.log.String(); strings.Contains(log, "level=DEBUG") || strings.Contains(log, client.socketID) {
		t.Errorf("logged at the default level:\n%s", log)
	}
}

// The logger follows REVERB_LOG_LEVEL and REVERB_LOG_FORMAT.
func TestNewLogger(t *testing.T) {
	for _, tc := range []struct {
		level, format string
		debug         bool
		want          []string // the lines logged of debug, info, warn, error
	}{
		{"info", "text", false, []string{"level=INFO msg=info", "level=WARN msg=warn", "level=ERROR msg=error"}},
		{"warn", "json", false, []string{`"level":"WARN","msg":"warn"`, `"level":"ERROR","msg":"error"`}},
		{"error", "text", true, []string{"level=DEBUG msg=debug", "level=INFO msg=info", "level=WARN msg=warn", "level=ERROR msg=error"}},
	} {
		var out bytes.Buffer
		log := newLogger(&config.Config{LogLevel: tc.level, LogFormat: tc.format, Debug: tc.debug}, &out)
		log.Debug("debug")
		log.Info("info")
		log.Warn("warn")
		log.Error("error")
		got := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(got) != len(tc.want) {
			t.Errorf("level %s, debug %v: %d lines, want %d:\n%s", tc.level, tc.debug, len(got), len(tc.want), out.String())
			continue
		}
		for i, want := range tc.want {
			if !strings.Contains(got[i], want) {
				t.Errorf("level %s, format %s: line %q, want %s", tc.level, tc.format, got[i], want)
			}
		}
	}
	if !newLogger(&config.Config{LogLevel: "info", LogFormat: "text"}, new(bytes.Buffer)).Enabled(t.Context(), slog.LevelInfo) {
		t.Error("info not enabled at the default level")
	}
}

// A bad REVERB_LOG_LEVEL or REVERB_LOG_FORMAT stops start-up with one line naming it.
func TestBadLogSettingsRefused(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"REVERB_LOG_LEVEL=trace", `reverbd: config: REVERB_LOG_LEVEL must be debug, info, warn or error, got "trace"`},
		{"REVERB_LOG_FORMAT=xml", `reverbd: config: REVERB_LOG_FORMAT must be text or json, got "xml"`},
	} {
		code, _, stderr := runCommand("start", "--env-file", appEnvFile(t, tc.line), "--port", "0")
		if code != 1 || strings.TrimSpace(stderr) != tc.want {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %q", tc.line, code, stderr, tc.want)
		}
	}
}
