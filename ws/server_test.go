package ws_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
	rws "github.com/reverbd/reverbd/ws"
)

const (
	testKey    = "278d425bdf160c739803"
	testSecret = "7ad3773142a6692b25b8"
)

// testApp is the reference's example app with generous defaults.
func testApp() config.App {
	return config.App{
		ID: "3", Key: testKey, Secret: testSecret,
		AllowedOrigins:         []string{"*"},
		PingInterval:           time.Minute,
		ActivityTimeout:        30 * time.Second,
		MaxMessageSize:         10000,
		AcceptClientEventsFrom: config.ClientEventsMembers,
	}
}

type env struct {
	srv       *rws.Server
	apps      *registry.Apps
	occupancy *registry.MemoryOccupancy
	cache     *registry.MemoryCache
	url       string
	tls       *tls.Config // the client's, for a wss:// url
}

// newEnv runs a ws.Server over httptest with the given apps; it is stopped with the test.
func newEnv(t *testing.T, params rws.Params, apps ...config.App) *env {
	t.Helper()
	if len(apps) == 0 {
		apps = []config.App{testApp()}
	}
	e := &env{occupancy: registry.NewMemoryOccupancy(), cache: registry.NewMemoryCache()}
	e.apps = registry.NewApps(apps)
	params.Apps = e.apps
	if params.Occupancy == nil {
		params.Occupancy = e.occupancy
	}
	params.Cache = e.cache
	srv, err := rws.New(params)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	r := chi.NewRouter()
	srv.Routes(r)
	hs := httptest.NewServer(r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		hs.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	e.url = "ws" + strings.TrimPrefix(hs.URL, "http")
	return e
}

// frame is a decoded server frame.
type frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  string          `json:"user_id"`
}

// dataString returns data when it is a JSON string (the server's encoding).
func (f frame) dataString(t *testing.T) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(f.Data, &s); err != nil {
		t.Fatalf("data of %s is not a JSON string: %s", f.Event, f.Data)
	}
	return s
}

type client struct {
	t        *testing.T
	conn     net.Conn
	rw       io.ReadWriter // conn, reading first what the dialer buffered after the 101
	socketID string
}

// dial connects with pusher-js's query string and reads the handshake.
func (e *env) dial(t *testing.T, key string, header ...string) (*client, frame) {
	t.Helper()
	d := ws.Dialer{Timeout: 5 * time.Second, TLSConfig: e.tls}
	if len(header) == 2 {
		d.Header = ws.HandshakeHeaderHTTP(map[string][]string{header[0]: {header[1]}})
	}
	conn, br, _, err := d.Dial(context.Background(), e.url+"/app/"+key+"?protocol=7&client=js&version=8.6.0&flash=false")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &client{t: t, conn: conn, rw: conn}
	if br != nil {
		c.rw = struct {
			io.Reader
			io.Writer
		}{br, conn}
	}
	t.Cleanup(func() { conn.Close() })
	first := c.read()
	if first.Event == "pusher:connection_established" {
		var d struct {
			SocketID string `json:"socket_id"`
		}
		if err := json.Unmarshal([]byte(first.dataString(t)), &d); err != nil {
			t.Fatal(err)
		}
		c.socketID = d.SocketID
	}
	return c, first
}

// connect dials the test app and requires a handshake.
func (e *env) connect(t *testing.T) *client {
	t.Helper()
	c, first := e.dial(t, testKey)
	if first.Event != "pusher:connection_established" {
		t.Fatalf("first frame = %s, want pusher:connection_established", first.Event)
	}
	return c
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next text frame; it fails the test after 5 s or on a close frame.
func (c *client) read() frame {
	c.t.Helper()
	f, closed := c.next()
	if closed != nil {
		c.t.Fatalf("connection closed with %d %q, want a frame", closed.Code, closed.Reason)
	}
	return f
}

// next returns the next text frame, or the close frame's status.
func (c *client) next() (frame, *wsutil.ClosedError) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	msg, op, err := wsutil.ReadServerData(c.rw)
	if err != nil {
		var closed wsutil.ClosedError
		if errors.As(err, &closed) {
			return frame{}, &closed
		}
		c.t.Fatalf("read: %v", err)
	}
	if op != ws.OpText {
		c.t.Fatalf("opcode %v, want text", op)
	}
	var f frame
	if err := json.Unmarshal(msg, &f); err != nil {
		c.t.Fatalf("frame is not JSON: %s", msg)
	}
	return f, nil
}

// expectClose reads frames until the close frame and returns its code.
func (c *client) expectClose() (int, []frame) {
	c.t.Helper()
	var frames []frame
	for {
		f, closed := c.next()
		if closed != nil {
			return int(closed.Code), frames
		}
		frames = append(frames, f)
	}
}

// errorOf decodes a pusher:error frame's data.
func errorOf(t *testing.T, f frame) (int, string) {
	t.Helper()
	if f.Event != "pusher:error" {
		t.Fatalf("event = %s, want pusher:error", f.Event)
	}
	var d struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(f.dataString(t)), &d); err != nil {
		t.Fatal(err)
	}
	return d.Code, d.Message
}

func sign(msg string) string { return testKey + ":" + registry.Sign(testSecret, msg) }

func TestHandshake(t *testing.T) {
	e := newEnv(t, rws.Params{})
	c, first := e.dial(t, testKey)
	if first.Event != "pusher:connection_established" {
		t.Fatalf("first frame = %+v", first)
	}
	var d struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	if err := json.Unmarshal([]byte(first.dataString(t)), &d); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d+\.\d+$`).MatchString(d.SocketID) {
		t.Errorf("socket_id %q does not match ^\\d+\\.\\d+$", d.SocketID)
	}
	if d.ActivityTimeout != 30 {
		t.Errorf("activity_timeout = %d, want 30", d.ActivityTimeout)
	}
	c2 := e.connect(t)
	if c2.socketID == c.socketID {
		t.Errorf("two connections share socket id %s", c.socketID)
	}
	if n, _ := e.occupancy.Connections(context.Background(), "3"); n != 2 {
		t.Errorf("connections = %d, want 2", n)
	}
}

func TestRefusedBeforeHandshake(t *testing.T) {
	strict := testApp()
	strict.ID, strict.Key = "4", "strict-key"
	strict.AllowedOrigins = []string{"*.example.com", "localhost"}
	full := testApp()
	full.ID, full.Key = "5", "full-key"
	full.MaxConnections = 1
	e := newEnv(t, rws.Params{}, testApp(), strict, full)
	e.connect(t)

	if _, first := e.dial(t, "full-key"); first.Event != "pusher:connection_established" {
		t.Fatalf("first connection of a quota-1 app refused: %+v", first)
	}
	cases := []struct {
		name    string
		key     string
		header  []string
		code    int
		message string
	}{
		{"unknown key", "nope", nil, 4001, "Application does not exist"},
		{"origin not allowed", "strict-key", []string{"Origin", "https://evil.test"}, 4009, "Origin not allowed"},
		{"no origin with an allow-list", "strict-key", nil, 4009, "Origin not allowed"},
		{"over quota", "full-key", nil, 4004, "Application is over connection quota"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, first := e.dial(t, tc.key, tc.header...)
			code, msg := errorOf(t, first)
			if code != tc.code || msg != tc.message {
				t.Errorf("pusher:error = %d %q, want %d %q", code, msg, tc.code, tc.message)
			}
			if got, rest := c.expectClose(); got != tc.code || len(rest) != 0 {
				t.Errorf("close code = %d after %d frames, want %d right away", got, len(rest), tc.code)
			}
		})
	}
	for _, origin := range []string{"https://app.example.com", "http://localhost:3000"} {
		if _, first := e.dial(t, "strict-key", "Origin", origin); first.Event != "pusher:connection_established" {
			t.Errorf("origin %s refused: %+v", origin, first)
		}
	}
}
