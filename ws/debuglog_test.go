package ws_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	rws "github.com/reverbd/reverbd/ws"
)

// logLine is one JSON debug line of the server.
type logLine map[string]any

func (l logLine) str(key string) string { s, _ := l[key].(string); return s }
func (l logLine) num(key string) float64 {
	n, _ := l[key].(float64)
	return n
}

// jsonLines decodes the JSON log lines written so far.
func (b *lockedBuffer) jsonLines(t *testing.T) []logLine {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []logLine
	for _, raw := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if raw == "" {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("log line is not JSON: %s", raw)
		}
		out = append(out, l)
	}
	return out
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLine waits up to 5 s for a line with msg whose fields include want, and returns it.
func (b *lockedBuffer) waitLine(t *testing.T, msg string, want map[string]any) logLine {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
	lines:
		for _, l := range b.jsonLines(t) {
			if l.str("msg") != msg {
				continue
			}
			for k, v := range want {
				if l[k] != v {
					continue lines
				}
			}
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q line with %v in the log:\n%s", msg, want, b.String())
		}
	}
}

func debugEnv(t *testing.T) (*env, *lockedBuffer) {
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return newEnv(t, rws.Params{Log: log}), logs
}

// At debug level a connection's life is logged: its open, each message it sent (the auth
// signature redacted), each frame queued for it (data cut to 256 bytes), each delivery with
// its latency, and its close with the code.
func TestDebugLogFollowsAConnection(t *testing.T) {
	e, logs := debugEnv(t)
	c := e.connect(t)
	id := c.socketID
	logs.waitLine(t, "connection opened", map[string]any{"app_id": "3", "socket_id": id})
	logs.waitLine(t, "frame queued", map[string]any{"socket_id": id, "event": "pusher:connection_established"})

	c.subscribe("private-orders", "")
	signature := sign(id + ":private-orders")
	in := logs.waitLine(t, "message received", map[string]any{"socket_id": id, "event": "pusher:subscribe", "channel": "private-orders"})
	if want := `"auth":"` + testKey + `:[redacted]"`; !strings.Contains(in.str("data"), want) {
		t.Errorf("subscribe data %q, want it to hold %s", in.str("data"), want)
	}
	logs.waitLine(t, "frame queued", map[string]any{"socket_id": id, "event": "pusher_internal:subscription_succeeded", "channel": "private-orders"})

	long := strings.Repeat("é", 300) // 600 bytes: the cut falls inside a character
	deliver(e, "private-orders", "order.paid", long, "")
	if f := c.read(); f.Event != "order.paid" {
		t.Fatalf("got %s, want order.paid", f.Event)
	}
	out := logs.waitLine(t, "frame queued", map[string]any{"socket_id": id, "event": "order.paid", "channel": "private-orders"})
	data := out.str("data")
	if !strings.HasSuffix(data, "…") || len(data) > 256+len("…") || !utf8.ValidString(data) ||
		!strings.HasPrefix(long, strings.TrimSuffix(data, "…")) {
		t.Errorf("data of a 600-byte event logged as %d bytes %q, want at most 256 and a mark", len(data), data)
	}
	if size := out.num("size"); size < 600 {
		t.Errorf("size = %v, want the whole message's", size)
	}
	delivered := logs.waitLine(t, "event delivered", map[string]any{"app_id": "3", "event": "order.paid"})
	if ch, _ := delivered["channels"].([]any); len(ch) != 1 || ch[0] != "private-orders" {
		t.Errorf("channels = %v", delivered["channels"])
	}
	if lat, fan := delivered.num("latency"), delivered.num("fanout"); lat <= 0 || fan <= 0 || fan > lat {
		t.Errorf("latency %v ns, fan-out %v ns: want both positive, fan-out within latency", lat, fan)
	}

	if err := ws.WriteFrame(c.conn, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(4321, "bye")))); err != nil {
		t.Fatal(err)
	}
	logs.waitLine(t, "frame queued", map[string]any{"socket_id": id, "opcode": "close", "code": 4321.0})
	logs.waitLine(t, "connection closed", map[string]any{"socket_id": id, "code": 4321.0})

	if strings.Contains(logs.String(), signature[len(testKey)+1:]) {
		t.Errorf("the log holds the auth signature:\n%s", logs.String())
	}
}

// A connection the server closes is logged with the server's code; one that goes away
// without a close frame with 1006.
func TestDebugLogCloseCodes(t *testing.T) {
	e, logs := debugEnv(t)
	gone := e.connect(t)
	gone.conn.Close()
	logs.waitLine(t, "connection closed", map[string]any{"socket_id": gone.socketID, "code": 1006.0})

	bad := e.connect(t)
	if err := ws.WriteFrame(bad.conn, ws.MaskFrameInPlace(ws.NewTextFrame([]byte{0xff}))); err != nil {
		t.Fatal(err)
	}
	if code, _ := bad.expectClose(); code != 1007 {
		t.Fatalf("close code %d, want 1007 for invalid UTF-8", code)
	}
	logs.waitLine(t, "connection closed", map[string]any{"socket_id": bad.socketID, "code": 1007.0})
}

// Every auth value of a subscribe or signin is redacted, whatever the case of its key, data
// given as a JSON string included; a message that is not JSON is logged with its size alone.
func TestDebugLogRedactsAuth(t *testing.T) {
	e, logs := debugEnv(t)
	c := e.connect(t)
	const secretSig = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, msg := range []string{
		`{"event":"pusher:subscribe","data":{"AUTH":"` + testKey + `:` + secretSig + `","channel":"private-a"}}`,
		`{"event":"pusher:subscribe","data":"{\"auth\":\"` + testKey + `:` + secretSig + `\",\"channel\":\"private-b\"}"}`,
		`{"event":"pusher:subscribe","data":["` + secretSig + `"]}`,
		`{"event":"pusher:subscribe","data":{"auth":"` + secretSig + `"`,
		// Last: a signin with a bad signature closes the connection (4009).
		`{"event":"pusher:signin","data":{"auth":"` + testKey + `:` + secretSig + `","user_data":"{\"id\":\"1\"}"}}`,
	} {
		c.sendRaw([]byte(msg))
	}
	logs.waitLine(t, "message received", map[string]any{"socket_id": c.socketID, "event": "pusher:subscribe", "channel": "private-a"})
	logs.waitLine(t, "message received", map[string]any{"socket_id": c.socketID, "event": "pusher:subscribe", "channel": "private-b"})
	signin := logs.waitLine(t, "message received", map[string]any{"socket_id": c.socketID, "event": "pusher:signin"})
	if !strings.Contains(signin.str("data"), `"user_data":"{\"id\":\"1\"}"`) {
		t.Errorf("signin data %q lost its user_data", signin.str("data"))
	}
	logs.waitLine(t, "message received", map[string]any{"socket_id": c.socketID, "data": "[redacted]"})
	logs.waitLine(t, "message received", map[string]any{"socket_id": c.socketID, "invalid": true})
	logs.waitLine(t, "connection closed", map[string]any{"socket_id": c.socketID, "code": 4009.0})
	if strings.Contains(logs.String(), secretSig) {
		t.Errorf("the log holds the signature:\n%s", logs.String())
	}
}

// Below debug level nothing of this is logged.
func TestNoDebugLogAtInfo(t *testing.T) {
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := newEnv(t, rws.Params{Log: log})
	c := e.connect(t)
	c.subscribe("orders", "")
	deliver(e, "orders", "order.paid", "{}", "")
	c.read()
	_ = wsutil.WriteClientMessage(c.conn, ws.OpClose, ws.NewCloseFrameBody(1000, ""))
	c.expectClose()
	if s := logs.String(); s != "" {
		t.Errorf("logged at info level:\n%s", s)
	}
}
