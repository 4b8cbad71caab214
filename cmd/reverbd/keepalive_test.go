package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
)

// A WebSocket upgrade sent on a connection that already carried an HTTP request (what nginx
// does with its keepalive pool shared by /apps/ and /app/) is upgraded and served: the
// socket receives connection_established, a subscription and a triggered event.
func TestUpgradeOnKeptAliveConnection(t *testing.T) {
	for _, prefix := range []string{"", "/ws"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			p := startProcess(t, "REVERB_SERVER_PATH="+prefix)
			for round := range 3 {
				conn, err := net.Dial("tcp", p.addr)
				if err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(conn)
				// Two requests first, so the connection is surely kept alive and reused.
				for range 2 {
					if _, err := io.WriteString(conn, "GET "+prefix+"/up HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
						t.Fatal(err)
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Fatalf("GET /up: %d", resp.StatusCode)
					}
				}
				upgrade := "GET " + prefix + "/app/" + e2eKey + "?protocol=7 HTTP/1.1\r\nHost: x\r\n" +
					"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
					"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
				if _, err := io.WriteString(conn, upgrade); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("round %d: upgrade answered %d", round, resp.StatusCode)
				}
				c := &wsClient{t: t, conn: conn, r: br}
				ev, data := c.read()
				if ev != "pusher:connection_established" {
					t.Fatalf("round %d: first frame %s", round, ev)
				}
				var d struct {
					SocketID string `json:"socket_id"`
				}
				json.Unmarshal([]byte(data), &d)
				c.socketID = d.SocketID
				c.subscribe("private-tenant.7")
				sdk := p.sdk(t)
				sdk.Host += prefix
				if err := sdk.Trigger("private-tenant.7", "order.paid", "x"); err != nil {
					t.Fatal(err)
				}
				if ev, _ := c.read(); ev != "order.paid" {
					t.Fatalf("round %d: got %s, want order.paid", round, ev)
				}
				// The socket stays served: a ping is answered.
				if err := wsutil.WriteClientText(conn, []byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
					t.Fatal(err)
				}
				if ev, _ := c.read(); ev != "pusher:pong" {
					t.Fatalf("round %d: got %s, want pusher:pong", round, ev)
				}
				conn.SetDeadline(time.Time{})
				conn.Close()
			}
		})
	}
}

// Bytes pipelined after an upgrade request on a kept-alive connection are refused, never
// read past: they would break the frame boundaries.
func TestKeptAliveUpgradeWithTrailingBytesRefused(t *testing.T) {
	p := startProcess(t)
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	io.WriteString(conn, "GET /up HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	io.WriteString(conn, "GET /app/"+e2eKey+" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\ngarbage")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "pusher:error") || strings.Contains(string(rest), "connection_established") {
		t.Errorf("got %q, want a pusher:error and no connection_established", rest)
	}
}
