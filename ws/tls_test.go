package ws_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/reverbd/reverbd/config/selfsigned"
	rws "github.com/reverbd/reverbd/ws"
)

// newTLSEnv is newEnv behind the server's own Listener serving TLS with a self-signed
// certificate, with an HTTP handler for POST /hello and the WebSocket route behind it; e.url
// is wss://.
func newTLSEnv(t *testing.T, params rws.Params) (e *env, addr string, client *tls.Config) {
	t.Helper()
	pair, err := selfsigned.New(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pair.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	params.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	e = newEnv(t, params)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The WebSocket route serves upgrades that arrive on a kept-alive connection.
	r := chi.NewRouter()
	e.srv.Routes(r)
	r.Post("/hello", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("hello "), body...))
	})
	hs := &http.Server{Handler: r}
	go hs.Serve(e.srv.Listener(ln, ""))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	})
	addr = ln.Addr().String()
	e.url = "wss://" + addr
	e.tls = &tls.Config{RootCAs: pair.Pool()}
	return e, addr, e.tls
}

// One TLS port serves WebSockets and HTTP; a plain request to it is told to use TLS.
func TestTLSListener(t *testing.T) {
	e, addr, clientTLS := newTLSEnv(t, rws.Params{})
	c := e.connect(t)
	c.subscribe("orders", "")
	c.subscribe("private-orders", "")
	deliver(e, "private-orders", "over-tls", "ok", "")
	if f := c.read(); f.Event != "over-tls" || f.dataString(t) != "ok" {
		t.Errorf("got %+v", f)
	}
	c.send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	if f := c.read(); f.Event != "pusher:pong" {
		t.Errorf("ping answered with %+v", f)
	}
	refused, first := e.dial(t, "nope")
	if code, _ := errorOf(t, first); code != 4001 {
		t.Errorf("unknown key over TLS: %+v", first)
	}
	if code, _ := refused.expectClose(); code != 4001 {
		t.Errorf("unknown key over TLS closed with %d, want 4001", code)
	}

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	resp, err := hc.Post("https://"+addr+"/hello", "text/plain", strings.NewReader("world"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello world" || resp.TLS == nil {
		t.Errorf("HTTPS through the listener: %d %q (TLS %v)", resp.StatusCode, body, resp.TLS != nil)
	}

	resp, err = http.Get("http://" + addr + "/up")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "https://") {
		t.Errorf("plain HTTP to the TLS port: %d %q, want 400 naming https://", resp.StatusCode, body)
	}
}

// batchConn passes writes through, or, while holding, keeps them until flush sends them in
// one write: several TLS records then reach the server in one segment.
type batchConn struct {
	net.Conn
	holding bool
	held    bytes.Buffer
}

func (b *batchConn) Write(p []byte) (int, error) {
	if b.holding {
		return b.held.Write(p)
	}
	return b.Conn.Write(p)
}

func (b *batchConn) flush() error {
	_, err := b.Conn.Write(b.held.Bytes())
	b.held.Reset()
	return err
}

// Frames sent as separate TLS records in one segment are all answered, although crypto/tls
// reads the later records from the socket before the server asks for them, so that the
// poller sees no more bytes.
func TestTLSRecordsReadAhead(t *testing.T) {
	_, addr, clientTLS := newTLSEnv(t, rws.Params{})
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	bc := &batchConn{Conn: raw}
	clientTLS = clientTLS.Clone()
	clientTLS.ServerName = "127.0.0.1"
	tc := tls.Client(bc, clientTLS)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	u, _ := url.Parse("ws://" + addr + "/app/" + testKey + "?protocol=7")
	br, _, err := ws.Dialer{}.Upgrade(tc, u)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: tc, rw: tc}
	if br != nil {
		c.rw = struct {
			io.Reader
			io.Writer
		}{br, tc}
	}
	if f := c.read(); f.Event != "pusher:connection_established" {
		t.Fatalf("first frame %+v", f)
	}

	bc.holding = true
	channels := []string{"a", "b", "c"}
	for _, ch := range channels {
		c.send(subscribeMsg(ch, "", "")) // one TLS record each
	}
	if bc.held.Len() == 0 {
		t.Fatal("test setup: nothing held")
	}
	if err := bc.flush(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range channels {
		if f := c.read(); f.Event != "pusher_internal:subscription_succeeded" || f.Channel != ch {
			t.Fatalf("want %s subscribed, got %+v", ch, f)
		}
	}
}

// A client that stops reading while a burst is sent gets every frame, in order, once it reads
// again: the records the socket could not take wait, sealed, and leave in order.
func TestTLSBurstToSlowReader(t *testing.T) {
	e, _, _ := newTLSEnv(t, rws.Params{WriteLimit: 64 << 20})
	c := e.connect(t)
	c.subscribe("burst", "")
	const frames, size = 256, 32 << 10 // 8 MiB: more than the socket buffers hold
	pad := strings.Repeat("x", size)
	for i := range frames {
		deliver(e, "burst", "chunk", fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, pad), "")
	}
	time.Sleep(200 * time.Millisecond) // the writers fill the socket and hand the rest to a drain
	br := bufio.NewReaderSize(c.rw, 64<<10)
	for i := range frames {
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		msg, _, err := wsutil.ReadServerData(struct {
			io.Reader
			io.Writer
		}{br, c.conn})
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if want := fmt.Sprintf(`\"i\":%d,`, i); !bytes.Contains(msg, []byte(want)) {
			t.Fatalf("frame %d is not the %dth: %.60s", i, i, msg)
		}
	}
}

// An upgrade sent over TLS on a connection that already carried an HTTP request (net/http
// serves it and hands the socket over) is served like one the Listener upgraded.
func TestTLSUpgradeOnKeptAliveConnection(t *testing.T) {
	e, addr, clientTLS := newTLSEnv(t, rws.Params{})
	conn, err := tls.Dial("tcp", addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	if _, err := io.WriteString(conn, "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nagain"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello again" {
		t.Fatalf("first request: %d %q", resp.StatusCode, body)
	}
	if _, err := io.WriteString(conn, "GET /app/"+testKey+"?protocol=7 HTTP/1.1\r\nHost: x\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, err = http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	c := &client{t: t, conn: conn, rw: struct {
		io.Reader
		io.Writer
	}{br, conn}}
	f := c.read()
	if f.Event != "pusher:connection_established" {
		t.Fatalf("first frame %+v", f)
	}
	var d struct {
		SocketID string `json:"socket_id"`
	}
	if err := json.Unmarshal([]byte(f.dataString(t)), &d); err != nil {
		t.Fatal(err)
	}
	c.socketID = d.SocketID
	c.subscribe("private-kept", "")
	deliver(e, "private-kept", "after-keepalive", "ok", "")
	if f := c.read(); f.Event != "after-keepalive" {
		t.Errorf("got %+v", f)
	}
}
