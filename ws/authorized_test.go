package ws_test

import (
	"testing"
	"time"

	"github.com/reverbd/reverbd/config"
	rws "github.com/reverbd/reverbd/ws"
)

// expectNotAuthorized reads up to c's close and requires the 4009 of authorized connections.
func (c *client) expectNotAuthorized() {
	c.t.Helper()
	code, frames := c.expectClose()
	if code != 4009 || len(frames) == 0 {
		c.t.Fatalf("close %d after %v, want pusher:error then close 4009", code, frames)
	}
	if got, msg := errorOf(c.t, frames[len(frames)-1]); got != 4009 || msg != "Connection not authorized within timeout." {
		c.t.Errorf("error %d %q", got, msg)
	}
}

// With user_authentication_timeout set, a connection the app has not authorized by then
// (signed in, or subscribed with a signature to a private or presence channel) is closed
// with 4009; authorized ones stay.
func TestAuthorizedConnections(t *testing.T) {
	app := testApp()
	app.UserAuthenticationTimeout = time.Second
	e := newEnv(t, rws.Params{SweepInterval: 100 * time.Millisecond}, app)
	signedIn, private, presence := e.connect(t), e.connect(t), e.connect(t)
	signedIn.signin(`{"id":"7"}`)
	if f := signedIn.read(); f.Event != "pusher:signin_success" {
		t.Fatalf("signin: %+v", f)
	}
	private.subscribe("private-orders", "")
	presence.subscribe("presence-room", `{"user_id":"8"}`)
	public, badAuth, idle := e.connect(t), e.connect(t), e.connect(t)
	public.subscribe("orders", "")
	badAuth.send(subscribeMsg("private-orders", testKey+":00", ""))
	subscriptionError(t, badAuth.read(), "private-orders")

	start := time.Now()
	idle.expectNotAuthorized()
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("closed after %v, before the 1 s timeout", waited)
	}
	public.expectNotAuthorized()
	badAuth.expectNotAuthorized()
	// Their deadlines passed before the others': the authorized ones are still open.
	for _, c := range []*client{signedIn, private, presence} {
		c.ping()
	}
}

// Off by default, and a connection opened while it was off is never closed for it, as on
// Pusher; one opened after a reload turned it on is.
func TestAuthorizedConnectionsOff(t *testing.T) {
	app := testApp()
	e := newEnv(t, rws.Params{SweepInterval: 20 * time.Millisecond}, app)
	before := e.connect(t)
	app.UserAuthenticationTimeout = time.Second
	e.apps.Replace([]config.App{app})
	e.srv.AppsReplaced()
	after := e.connect(t)
	after.expectNotAuthorized()
	before.ping()
}
