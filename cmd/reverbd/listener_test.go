package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
)

// shortTimeouts keeps the timeout tests fast.
var shortTimeouts = publicTimeouts{handshake: 300 * time.Millisecond, header: 300 * time.Millisecond, request: 600 * time.Millisecond}

// closedWithin reads conn until the server closes it and returns what arrived; it fails the
// test when the connection is still open after wait.
func closedWithin(t *testing.T, conn net.Conn, wait time.Duration) []byte {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %v; got %q", wait, got)
	}
	return got
}

// dribble writes head at once, then tail one byte every 50 ms until a write fails or the
// test ends, like a slowloris client.
func dribble(t *testing.T, conn net.Conn, head, tail string) {
	t.Helper()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(done); conn.Close(); wg.Wait() })
	wg.Go(func() {
		for i := 0; ; i = (i + 1) % len(tail) {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := io.WriteString(conn, tail[i:i+1]); err != nil {
				return
			}
		}
	})
}

// A client that sends its request slowly is cut off by the configured timeouts, never held
// forever: on a fresh connection (the listener's handshake deadline, before and after the
// first bytes), on a kept-alive connection (the header timeout), and in a request body (the
// request timeout).
func TestSlowClientsCutOff(t *testing.T) {
	p := startProcessTimeouts(t, shortTimeouts)
	slowHeader := "X-Slow: " + strings.Repeat("a", 1000)
	upgrade := "GET /app/" + e2eKey + "?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	cases := []struct {
		name       string
		keptAlive  bool
		head, tail string
	}{
		{"fresh connection, first bytes", false, "", "GET /up HTTP/1.1\r\nHost: x\r\n" + slowHeader},
		{"fresh connection, WebSocket headers", false, upgrade, slowHeader},
		{"fresh connection, HTTP headers", false, "GET /up HTTP/1.1\r\nHost: x\r\n", slowHeader},
		{"kept-alive connection, headers", true, "GET /up HTTP/1.1\r\nHost: x\r\n", slowHeader},
		{"kept-alive connection, WebSocket headers", true, upgrade, slowHeader},
		{"request body", false, "POST /apps/" + e2eID + "/events?auth_key=" + e2eKey + " HTTP/1.1\r\nHost: x\r\n" +
			"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", strings.Repeat(" ", 999)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			if tc.keptAlive {
				keepAlive(t, conn)
			}
			dribble(t, conn, tc.head, tc.tail)
			got := closedWithin(t, conn, 5*time.Second)
			if bytes.Contains(got, []byte(" 101 ")) || bytes.Contains(got, []byte(" 200 ")) {
				t.Errorf("the slow request was served: %q", got)
			}
		})
	}
}

// keepAlive makes conn a kept-alive connection: one GET /up answered 200.
func keepAlive(t *testing.T, conn net.Conn) {
	t.Helper()
	if _, err := io.WriteString(conn, "GET /up HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || br.Buffered() > 0 {
		t.Fatalf("GET /up: %d, %d bytes more", resp.StatusCode, br.Buffered())
	}
}

// WebSocket connections are free of the request timeouts once upgraded, whether upgraded by
// the listener or on a kept-alive connection: after several timeouts' time they still get
// events and answer pings.
func TestWebSocketsOutliveRequestTimeouts(t *testing.T) {
	p := startProcessTimeouts(t, shortTimeouts)
	fresh := p.dial(t)
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	keepAlive(t, conn)
	io.WriteString(conn, "GET /app/"+e2eKey+"?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade on a kept-alive connection: %v %v", resp, err)
	}
	kept := &wsClient{t: t, conn: conn, r: br}
	if ev, _ := kept.read(); ev != "pusher:connection_established" {
		t.Fatalf("first frame %s", ev)
	}
	for _, c := range []*wsClient{fresh, kept} {
		c.subscribe("orders")
	}
	time.Sleep(3 * shortTimeouts.request)
	if err := p.sdk(t).Trigger("orders", "later", "x"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsClient{fresh, kept} {
		if ev, _ := c.read(); ev != "later" {
			t.Errorf("got %s, want later", ev)
		}
		if err := wsutil.WriteClientText(c.conn, []byte(`{"event":"pusher:ping","data":{}}`)); err != nil {
			t.Fatal(err)
		}
		if ev, _ := c.read(); ev != "pusher:pong" {
			t.Errorf("got %s, want pusher:pong", ev)
		}
	}
}

// Request headers past the bound (64 KiB here) are answered 431 on every path: a WebSocket
// handshake on a fresh connection, an HTTP request on a fresh connection, and one on a
// kept-alive connection.
func TestLargeHeadersRefused(t *testing.T) {
	p := startProcess(t)
	pad := "X-Pad: " + strings.Repeat("a", 64<<10) + "\r\n"
	upgrade := "GET /app/" + e2eKey + "?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + pad + "\r\n"
	get := "GET /up HTTP/1.1\r\nHost: x\r\n" + pad + "\r\n"
	for _, tc := range []struct {
		name      string
		keptAlive bool
		request   string
	}{
		{"fresh WebSocket handshake", false, upgrade},
		{"fresh HTTP request", false, get},
		{"kept-alive HTTP request", true, get},
		{"kept-alive WebSocket handshake", true, upgrade},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tc.keptAlive {
				keepAlive(t, conn)
			}
			if _, err := io.WriteString(conn, tc.request); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("answered %d, want 431", resp.StatusCode)
			}
		})
	}
}

// Stopping the process while connections are in their handshake closes them at once
// (however long the handshake timeout) and the listener with them; open sockets get 4200.
func TestStopCutsHandshakes(t *testing.T) {
	p := startProcessTimeouts(t, publicTimeouts{handshake: time.Minute, header: time.Minute, request: time.Minute})
	open := p.dial(t)
	idle, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	partial, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer partial.Close()
	io.WriteString(partial, "GET /app/"+e2eKey+" HTTP/1.1\r\nHost: x\r\n")
	time.Sleep(50 * time.Millisecond) // let the listener take both

	p.stop()
	if got := closedWithin(t, idle, 5*time.Second); len(got) != 0 {
		t.Errorf("idle handshake got %q", got)
	}
	if got := closedWithin(t, partial, 5*time.Second); bytes.Contains(got, []byte(" 101 ")) {
		t.Errorf("partial handshake got %q", got)
	}
	if ev, _ := open.read(); ev != "close:4200" {
		if ev != "pusher:error" {
			t.Errorf("open socket got %s, want close:4200", ev)
		} else if ev, _ = open.read(); ev != "close:4200" {
			t.Errorf("open socket got %s, want close:4200", ev)
		}
	}
	if err := <-p.done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if c, err := net.Dial("tcp", p.addr); err == nil {
		c.Close()
		t.Error("the public port still accepts after the stop")
	}
}
