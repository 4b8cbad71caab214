package ws

import "time"

// Authorized connections (https://pusher.com/docs/channels/using_channels/authorized-connections/):
// when an app sets user_authentication_timeout, a connection must be authorized by the app
// within that time of opening, by signing in (pusher:signin) or by subscribing with a valid
// signature to a private or presence channel; otherwise it is closed with 4009. Connections
// opened while the option was off are never closed for it, as on Pusher. The liveness sweep
// checks, so no connection holds a timer.

// authorized records that the app has authorized c.
func (c *Conn) authorized() {
	if c.unauthorizedSince.Load() != 0 {
		c.unauthorizedSince.Store(0)
	}
}

// checkAuthorized closes c with 4009 if it is still unauthorized past its app's timeout.
func (c *Conn) checkAuthorized(now time.Time) {
	since := c.unauthorizedSince.Load()
	if since == 0 {
		return
	}
	timeout := c.App().UserAuthenticationTimeout
	if timeout <= 0 || now.Sub(time.Unix(0, since)) < timeout {
		return
	}
	c.srv.log.Info("connection not authorized within timeout", "app_id", c.App().ID, "socket_id", c.id, "timeout", timeout)
	c.close(errNotAuthorizedYet)
}
