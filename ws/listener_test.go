package ws_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	rws "github.com/reverbd/reverbd/ws"
)

// Upgrades are taken off the listener before net/http: the HTTP handler here has no
// WebSocket route at all, and every other request still reaches it intact.
func TestListenerUpgradesBeforeHTTP(t *testing.T) {
	e := newEnv(t, rws.Params{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/hello", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("hello "), body...))
	})
	hs := &http.Server{Handler: mux}
	go hs.Serve(e.srv.Listener(ln, "/ws"))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	})

	e.url = "ws://" + ln.Addr().String() + "/ws"
	c := e.connect(t)
	c.subscribe("orders", "")
	deliver(e, "orders", "through-the-listener", `"ok"`, "")
	if f := c.read(); f.Event != "through-the-listener" {
		t.Errorf("got %+v", f)
	}
	if _, first := e.dial(t, "nope"); first.Event != "pusher:error" {
		t.Errorf("unknown key through the listener: %+v", first)
	}

	resp, err := http.Post("http://"+ln.Addr().String()+"/ws/hello", "text/plain", strings.NewReader("world"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello world" {
		t.Errorf("HTTP through the listener: %d %q", resp.StatusCode, body)
	}
}
