package ws_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	rws "github.com/reverbd/reverbd/ws"
)

// upgradeRequest is a valid handshake for the test app, extra headers before the blank line.
func upgradeRequest(extra string) string {
	return "GET /app/" + testKey + "?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" +
		"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		extra + "\r\n"
}

// readClosed reads c until the server closes it and returns what arrived; it fails the test
// if the server keeps the connection open past wait.
func readClosed(t *testing.T, c net.Conn, wait time.Duration) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v; got %q", wait, got)
	}
	return got
}

// heapInUse returns the bytes of live heap objects, after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	for range 2 { // twice: sync.Pool keeps a victim cache across one collection
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Handshakes carrying 64 KiB of headers, in one long line or in many short ones, are
// answered 431 and never upgraded, and the server's heap is where it was afterwards; the
// listener then upgrades a normal handshake as before.
func TestHandshakeHeadersBounded(t *testing.T) {
	e := newListenerEnv(t, rws.Params{})
	pad := strings.Repeat("a", 64<<10)
	var lines strings.Builder
	for i := 0; lines.Len() < 64<<10; i++ {
		lines.WriteString("X-Pad-" + strings.Repeat("b", 8) + ": " + pad[:100] + "\r\n")
	}
	requests := []string{upgradeRequest("X-Pad: " + pad + "\r\n"), upgradeRequest(lines.String())}
	e.connect(t) // warm up pools and goroutines before the baseline
	before := heapInUse()

	const n = 200
	conns := make([]net.Conn, n)
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				errs[i] = err
				return
			}
			conns[i] = c
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, requests[i%2]); err != nil {
				errs[i] = err
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("handshake %d: %v", i, errs[i])
		}
		if statuses[i] != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("handshake %d answered %d, want 431", i, statuses[i])
		}
	}
	// While the clients still hold their connections, the server holds no more than a
	// small buffer for each (it would hold each 64 KiB line if headers were unbounded).
	const inFlight = 8 << 20
	if during := heapInUse(); during > before+inFlight {
		t.Errorf("live heap grew from %d to %d bytes with 200 refused handshakes open", before, during)
	}
	for _, c := range conns {
		c.Close()
	}
	// Once they are closed, the server's goroutines end and the heap is back where it was.
	const tolerance = 1 << 20
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		after := heapInUse()
		if after <= before+tolerance {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("live heap %d bytes after the refused handshakes, %d before", after, before)
		}
	}
	e.connect(t)
}

// Past MaxHandshakes connections in their handshake, a new connection is closed after a
// short wait instead of holding a goroutine and buffers, logged once; once the handshakes
// end, connections are upgraded again.
func TestHandshakeSlots(t *testing.T) {
	e := newListenerEnv(t, rws.Params{MaxHandshakes: 2, HandshakeTimeout: time.Minute})
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	for range 3 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := readClosed(t, c, 5*time.Second); len(got) != 0 {
			t.Errorf("a connection past the handshake limit got %q", got)
		}
		c.Close()
	}
	if n := e.logs.count("handshake limit reached"); n != 1 {
		t.Errorf("handshake limit logged %d times, want once:\n%s", n, e.logs.dump())
	}
	for _, c := range idle {
		c.Close()
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, upgradeRequest(""))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no upgrade after the idle handshakes closed: %v", err)
		}
	}
}

// A panic while one connection's message is handled closes that connection only, and is
// logged once: another connection keeps receiving events and answering pings, and the
// listener keeps upgrading.
func TestPanicClosesOnlyItsConnection(t *testing.T) {
	t.Cleanup(rws.SetReadHook(func(msg []byte) {
		if bytes.Contains(msg, []byte("explode")) {
			panic("handler failed")
		}
	}))
	e := newListenerEnv(t, rws.Params{})
	victim, other := e.connect(t), e.connect(t)
	victim.subscribe("orders", "")
	other.subscribe("orders", "")

	victim.sendRaw([]byte(`{"event":"explode","data":{}}`))
	readClosed(t, victim.conn, 5*time.Second)

	deliver(e.env, "orders", "after-panic", `"x"`, "")
	if f := other.read(); f.Event != "after-panic" {
		t.Errorf("other connection got %+v, want after-panic", f)
	}
	other.sendRaw([]byte(`{"event":"pusher:ping","data":{}}`))
	if f := other.read(); f.Event != "pusher:pong" {
		t.Errorf("other connection answered %+v, want pusher:pong", f)
	}
	e.connect(t)
	if n, _ := e.occupancy.Connections(context.Background(), "3"); n != 2 {
		t.Errorf("connections = %d, want 2 (the panicking one released)", n)
	}
	if n := e.logs.count("panic while serving a connection"); n != 1 {
		t.Errorf("panic logged %d times, want once:\n%s", n, e.logs.dump())
	}
}

// Shutdown closes the listener it was given and the connections still in their handshake
// (however long the handshake timeout), and returns once their goroutines are done; open
// connections get 4200, and a listener given after Shutdown is closed at once.
func TestShutdownClosesListenerAndHandshakes(t *testing.T) {
	e := newListenerEnv(t, rws.Params{HandshakeTimeout: time.Minute})
	open := e.connect(t)
	idle, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	partial, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer partial.Close()
	io.WriteString(partial, "GET /app/"+testKey+" HTTP/1.1\r\nHost: x\r\n")
	time.Sleep(50 * time.Millisecond) // let the listener take both

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.shutdown(ctx); err != nil {
		t.Fatalf("shutdown with handshakes in progress: %v", err)
	}
	if got := readClosed(t, idle, time.Second); len(got) != 0 {
		t.Errorf("idle handshake got %q", got)
	}
	if got := readClosed(t, partial, time.Second); bytes.Contains(got, []byte("101")) {
		t.Errorf("partial handshake got %q", got)
	}
	if code, _ := open.expectClose(); code != 4200 {
		t.Errorf("open connection closed with %d, want 4200", code)
	}
	if c, err := net.Dial("tcp", e.addr); err == nil {
		c.Close()
		t.Error("the listener still accepts after Shutdown")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Listener(ln, "")
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("a listener given after Shutdown accepts")
	}
}
