package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/config"
)

const (
	e2eID     = "3"
	e2eKey    = "278d425bdf160c739803"
	e2eSecret = "7ad3773142a6692b25b8"

	adminUser     = "ops"
	adminPassword = "pw"
)

// process is a whole reverbd wired by newServer and served on a loopback port.
type process struct {
	addr      string
	adminAddr string
	stop      context.CancelFunc
	done      chan error
}

// wait stops the process and returns what serve returned.
func (p *process) wait() error {
	p.stop()
	return <-p.done
}

func startProcess(t *testing.T, extra ...string) *process {
	t.Helper()
	return startProcessTimeouts(t, defaultTimeouts, extra...)
}

// startProcessTimeouts is startProcess with the given public timeouts.
func startProcessTimeouts(t *testing.T, timeouts publicTimeouts, extra ...string) *process {
	t.Helper()
	environ := append([]string{
		"REVERB_APP_ID=" + e2eID, "REVERB_APP_KEY=" + e2eKey, "REVERB_APP_SECRET=" + e2eSecret,
		// The admin listener always requires basic auth.
		"REVERB_ADMIN_USERNAME=" + adminUser, "REVERB_ADMIN_PASSWORD=" + adminPassword,
	}, extra...)
	empty := t.TempDir() + "/.env"
	if err := writeFile(empty, ""); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(empty, environ)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newServerTimeouts(cfg, slog.New(slog.DiscardHandler), timeouts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &process{addr: ln.Addr().String(), adminAddr: adminLn.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() {
		err := srv.serve(ctx, ln, adminLn)
		p.done <- err
		p.done <- err // once for wait, once for the cleanup
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-p.done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return p
}

func (p *process) sdk(t *testing.T) *pusher.Client {
	t.Helper()
	return &pusher.Client{AppID: e2eID, Key: e2eKey, Secret: e2eSecret, Host: p.addr}
}

type wsClient struct {
	t        *testing.T
	conn     net.Conn
	r        io.Reader
	socketID string
}

func (p *process) dial(t *testing.T) *wsClient {
	t.Helper()
	conn, br, _, err := ws.Dial(context.Background(), "ws://"+p.addr+"/app/"+e2eKey+"?protocol=7&client=js&version=8.6.0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsClient{t: t, conn: conn, r: conn}
	if br != nil {
		c.r = io.MultiReader(br, conn)
	}
	ev, data := c.read()
	if ev != "pusher:connection_established" {
		t.Fatalf("first frame %s", ev)
	}
	var d struct {
		SocketID string `json:"socket_id"`
	}
	json.Unmarshal([]byte(data), &d)
	c.socketID = d.SocketID
	return c
}

// readServerMessage reads the next data message the server sent on conn, through r, the
// reader that holds what the handshake read past the response.
func readServerMessage(conn net.Conn, r io.Reader) ([]byte, error) {
	msg, _, err := wsutil.ReadServerData(struct {
		io.Reader
		io.Writer
	}{r, conn})
	return msg, err
}

// read returns the next frame's event and data string; a close frame yields "close:<code>".
func (c *wsClient) read() (string, string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	msg, err := readServerMessage(c.conn, c.r)
	var closed wsutil.ClosedError
	if errors.As(err, &closed) {
		return "close:" + strconv.Itoa(int(closed.Code)), closed.Reason
	}
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f struct {
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(msg, &f); err != nil {
		c.t.Fatalf("frame %s: %v", msg, err)
	}
	var data string
	if err := json.Unmarshal(f.Data, &data); err != nil {
		data = string(f.Data) // client events relay data as sent: an object stays an object
	}
	return f.Event, data
}

func (c *wsClient) subscribe(channel string) {
	c.t.Helper()
	msg := `{"event":"pusher:subscribe","data":{"auth":"` + authFor(c.socketID, channel) + `","channel":"` + channel + `"}}`
	if err := wsutil.WriteClientText(c.conn, []byte(msg)); err != nil {
		c.t.Fatal(err)
	}
	if ev, _ := c.read(); ev != "pusher_internal:subscription_succeeded" {
		c.t.Fatalf("subscribe %s: %s", channel, ev)
	}
}

func authFor(socketID, channel string) string {
	if !strings.HasPrefix(channel, "private-") {
		return ""
	}
	sdk := pusher.Client{AppID: e2eID, Key: e2eKey, Secret: e2eSecret}
	b, err := sdk.AuthorizePrivateChannel([]byte("socket_id=" + socketID + "&channel_name=" + channel))
	if err != nil {
		panic(err)
	}
	var r struct {
		Auth string `json:"auth"`
	}
	json.Unmarshal(b, &r)
	return r.Auth
}

// backends lists the environment of each queue backend; every whole-process case runs on both.
func backends(t *testing.T) map[string][]string {
	return map[string][]string{
		"memory": nil,
		"redis":  redisQueueEnv(t),
	}
}

// A trigger through the official SDK travels the queue and reaches the socket, except the
// excluded one, and the HTTP data arrives byte for byte.
func TestTriggerReachesSockets(t *testing.T) {
	for name, env := range backends(t) {
		t.Run(name, func(t *testing.T) { testTriggerReachesSockets(t, startProcess(t, env...)) })
	}
}

func testTriggerReachesSockets(t *testing.T, p *process) {
	admin, other := p.dial(t), p.dial(t)
	for _, c := range []*wsClient{admin, other} {
		c.subscribe("private-tenant.42.admins")
	}
	sdk := p.sdk(t)
	payload := map[string]string{"ip_address": "10.0.0.1", "device": "Firefox / Linux"}
	if err := sdk.Trigger("private-tenant.42.admins", "security.login.new", payload); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(payload)
	for _, c := range []*wsClient{admin, other} {
		if ev, data := c.read(); ev != "security.login.new" || data != string(want) {
			t.Errorf("got %s %s, want security.login.new %s", ev, data, want)
		}
	}
	if _, err := sdk.TriggerWithParams("private-tenant.42.admins", "excluded", "x", pusher.TriggerParams{SocketID: &admin.socketID}); err != nil {
		t.Fatal(err)
	}
	if err := sdk.Trigger("private-tenant.42.admins", "marker", "y"); err != nil {
		t.Fatal(err)
	}
	if ev, _ := admin.read(); ev != "marker" {
		t.Errorf("excluded socket got %s", ev)
	}
	if ev, _ := other.read(); ev != "excluded" {
		t.Errorf("other socket got %s", ev)
	}
	prefix := "private-"
	chans, err := sdk.Channels(pusher.ChannelsParams{FilterByPrefix: &prefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := chans.Channels["private-tenant.42.admins"]; !ok || len(chans.Channels) != 1 {
		t.Errorf("channels = %+v", chans.Channels)
	}
}

// Stopping the process closes every socket with 4200 so pusher-js reconnects at once.
func TestStopClosesSocketsWith4200(t *testing.T) {
	for name, env := range backends(t) {
		t.Run(name, func(t *testing.T) { testStopClosesSockets(t, startProcess(t, env...)) })
	}
}

func testStopClosesSockets(t *testing.T, p *process) {
	c := p.dial(t)
	p.stop()
	ev, _ := c.read()
	if ev == "pusher:error" {
		ev, _ = c.read()
	}
	if ev != "close:4200" {
		t.Errorf("got %s, want close:4200", ev)
	}
}

func TestPathPrefix(t *testing.T) {
	p := startProcess(t, "REVERB_SERVER_PATH=/ws")
	conn, _, _, err := ws.Dial(context.Background(), "ws://"+p.addr+"/ws/app/"+e2eKey)
	if err != nil {
		t.Fatalf("dial under the prefix: %v", err)
	}
	conn.Close()
	sdk := &pusher.Client{AppID: e2eID, Key: e2eKey, Secret: e2eSecret, Host: p.addr + "/ws"}
	if err := sdk.Trigger("orders", "e", "d"); err != nil {
		t.Errorf("trigger under the prefix: %v", err)
	}
}

func TestVersionCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "reverbd ") {
		t.Errorf("version: exit %d, output %q", code, out.String())
	}
	if code := run([]string{"bogus"}, &out, &errOut); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	t.Setenv("REVERB_APP_ID", "1")
	t.Setenv("REVERB_APP_KEY", "k")
	t.Setenv("REVERB_APP_SECRET", "")
	var errOut bytes.Buffer
	empty := t.TempDir() + "/.env"
	writeFile(empty, "")
	code := run([]string{"start", "--env-file", empty, "--port", "0"}, io.Discard, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "REVERB_APP_SECRET") {
		t.Errorf("exit %d, stderr %q: want 1 and a line naming REVERB_APP_SECRET", code, errOut.String())
	}
}
