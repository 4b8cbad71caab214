package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// wsProbe is the doctor's own WebSocket client, a stand-in for pusher-js: it opens
// /app/{key} as pusher-js does and reads Pusher protocol events
// (https://pusher.com/docs/channels/library_auth_reference/pusher-websockets-protocol/).
type wsProbe struct {
	conn            net.Conn
	r               *bufio.Reader // the bytes after the handshake's response come from here
	socketID        string
	activityTimeout int         // seconds, from pusher:connection_established
	stop            func() bool // stops closing conn when the doctor's context ends
}

// pusherEvent is one Pusher protocol message.
type pusherEvent struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// upgradeRefused is an answer other than 101 to the upgrade request.
type upgradeRefused struct {
	status   int
	text     string // the status line's text: "Bad Request"
	server   string // the Server header: "nginx/1.22.1"; reverbd sends none
	location string // the Location header of a redirect
	body     string // the start of the body, on one line
}

func (e *upgradeRefused) Error() string {
	s := fmt.Sprintf("answered %d %s instead of 101 Switching Protocols", e.status, e.text)
	if e.server != "" {
		s += " (Server: " + e.server + ")"
	}
	if e.body != "" {
		s += ": " + e.body
	}
	return s
}

// errSilentAfterUpgrade is a 101 followed by no frame at all.
var errSilentAfterUpgrade = errors.New("answered 101 Switching Protocols, then sent nothing")

// pusherError is a pusher:error event or a close frame with a Pusher code (4000-4299).
type pusherError struct {
	code    int
	message string
}

func (e *pusherError) Error() string { return fmt.Sprintf("Pusher error %d: %s", e.code, e.message) }

// websocketAccept is the Sec-WebSocket-Accept a server must answer to key (RFC 6455, 4.2.2).
func websocketAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dialProbe opens a WebSocket to e for the app with key, the way pusher-js does, and waits
// for pusher:connection_established. The upgrade request is written by hand, so that any
// answer but 101 can be reported with its status, Server header and body.
func dialProbe(parent context.Context, e endpoint, key, origin string) (*wsProbe, error) {
	ctx, cancel := context.WithTimeout(parent, doctorTimeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", e.addr())
	if err != nil {
		return nil, fmt.Errorf("TCP connection to %s: %s", e.addr(), dialProblem(err))
	}
	if e.tls {
		tc := tls.Client(conn, tlsConfigFor(e))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", e.addr(), err)
		}
		conn = tc
	}
	p, err := handshake(ctx, conn, e, key, origin)
	if err != nil {
		conn.Close()
		return nil, err
	}
	// An interrupted doctor (Ctrl-C) ends a wait at once, the --idle one included.
	p.stop = context.AfterFunc(parent, func() { conn.Close() })
	return p, nil
}

// handshake sends the upgrade request on conn and reads up to connection_established.
func handshake(ctx context.Context, conn net.Conn, e endpoint, key, origin string) (*wsProbe, error) {
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodGet, e.wsURL(key), nil)
	if err != nil {
		return nil, err
	}
	nonce := base64.StdEncoding.EncodeToString([]byte(randomHex(8)))
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", nonce)
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("User-Agent", "reverbd-doctor/"+version)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if err := req.Write(conn); err != nil {
		return nil, fmt.Errorf("sending the upgrade request: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("the connection was closed without an answer to the upgrade request")
		}
		return nil, fmt.Errorf("reading the answer to the upgrade request: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		return nil, &upgradeRefused{
			status:   resp.StatusCode,
			text:     http.StatusText(resp.StatusCode),
			server:   resp.Header.Get("Server"),
			location: resp.Header.Get("Location"),
			body:     strings.Join(strings.Fields(string(body)), " "),
		}
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != websocketAccept(nonce) {
		return nil, fmt.Errorf("answered 101 with Sec-WebSocket-Accept %q, want %q: something between rewrote the handshake", got, websocketAccept(nonce))
	}
	p := &wsProbe{conn: conn, r: br}
	ev, err := p.next(time.Until(deadline))
	switch {
	case isTimeout(err):
		return nil, errSilentAfterUpgrade
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, errors.New("answered 101 Switching Protocols, then closed the connection without a frame")
	case err != nil:
		return nil, err
	case ev.Event != "pusher:connection_established":
		return nil, fmt.Errorf("the first event was %s, want pusher:connection_established", ev.Event)
	}
	var est struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	if err := decodeData(ev.Data, &est); err != nil || est.SocketID == "" {
		return nil, fmt.Errorf("pusher:connection_established without a socket_id: %s", ev.Data)
	}
	p.socketID, p.activityTimeout = est.SocketID, est.ActivityTimeout
	return p, conn.SetDeadline(time.Time{})
}

// decodeData decodes an event's data, which the protocol sends as a JSON string holding JSON.
func decodeData(raw json.RawMessage, v any) error {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		raw = json.RawMessage(s)
	}
	return json.Unmarshal(raw, v)
}

// isTimeout reports whether err is a read or dial deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// next returns the next event within timeout, answering the server's pings on the way; a
// pusher:error or a close frame with a Pusher code is returned as a *pusherError.
func (p *wsProbe) next(timeout time.Duration) (pusherEvent, error) {
	if err := p.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return pusherEvent{}, err
	}
	rw := struct {
		io.Reader
		io.Writer
	}{p.r, p.conn}
	for {
		data, op, err := wsutil.ReadServerData(rw)
		var closed wsutil.ClosedError
		if errors.As(err, &closed) {
			return pusherEvent{}, &pusherError{code: int(closed.Code), message: "connection closed: " + closed.Reason}
		}
		if err != nil {
			return pusherEvent{}, err
		}
		if op != ws.OpText {
			continue
		}
		var ev pusherEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			return pusherEvent{}, fmt.Errorf("a frame that is not a Pusher event: %.100s", data)
		}
		switch ev.Event {
		case "pusher:ping":
			if err := p.send(pusherEvent{Event: "pusher:pong", Data: json.RawMessage(`{}`)}); err != nil {
				return pusherEvent{}, err
			}
			continue
		case "pusher:error":
			var e struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			_ = decodeData(ev.Data, &e)
			return ev, &pusherError{code: e.Code, message: e.Message}
		}
		return ev, nil
	}
}

// waitFor returns the first event named event on channel within timeout.
func (p *wsProbe) waitFor(event, channel string, timeout time.Duration) (pusherEvent, error) {
	deadline := time.Now().Add(timeout)
	for {
		ev, err := p.next(time.Until(deadline))
		if err != nil {
			return ev, err
		}
		if ev.Event == event && ev.Channel == channel {
			return ev, nil
		}
		if ev.Event == "pusher:subscription_error" && ev.Channel == channel {
			return ev, fmt.Errorf("pusher:subscription_error on %s: %s", channel, ev.Data)
		}
	}
}

// send writes one event as a masked text frame.
func (p *wsProbe) send(ev pusherEvent) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := p.conn.SetWriteDeadline(time.Now().Add(doctorTimeout)); err != nil {
		return err
	}
	return wsutil.WriteClientText(p.conn, b)
}

// subscribe subscribes to a public channel and waits for the confirmation.
func (p *wsProbe) subscribe(channel string) error {
	data, _ := json.Marshal(map[string]string{"channel": channel})
	if err := p.send(pusherEvent{Event: "pusher:subscribe", Data: data}); err != nil {
		return err
	}
	_, err := p.waitFor("pusher_internal:subscription_succeeded", channel, doctorTimeout)
	return err
}

// close says goodbye with a close frame and closes the connection.
func (p *wsProbe) close() {
	p.stop()
	_ = p.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = ws.WriteFrame(p.conn, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
	p.conn.Close()
}
