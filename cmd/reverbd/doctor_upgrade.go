package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// upgradeHeadersFix is the proxy configuration a WebSocket needs, as the shipped nginx site has it.
const upgradeHeadersFix = "pass the upgrade on in the proxy's location for /app/: proxy_http_version 1.1; " +
	"proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade; " +
	"(with the map of deployment/nginx/reverbd.conf), then reload the proxy"

// checkUpgrade opens a WebSocket through the public address as pusher-js does and waits for
// pusher:connection_established.
func checkUpgrade(ctx context.Context, d *diagnosis) outcome {
	p, err := dialProbe(ctx, d.public, d.app.Key, d.opts.origin)
	if err != nil {
		detail, fix := upgradeProblem(d, d.public, err)
		return fail(detail, fix)
	}
	defer p.close()
	return ok("%s: 101 Switching Protocols, then pusher:connection_established (activity_timeout %ds)",
		shortURL(d.public), p.activityTimeout)
}

// shortURL is the WebSocket URL without the app key and the query.
func shortURL(e endpoint) string {
	u := e.wsURL("KEY")
	u, _, _ = strings.Cut(u, "?")
	return strings.TrimSuffix(u, "/KEY")
}

// upgradeProblem names the likely cause of a failed upgrade at e and what to change.
func upgradeProblem(d *diagnosis, e endpoint, err error) (detail, fix string) {
	where := shortURL(e)
	var refused *upgradeRefused
	var perr *pusherError
	switch {
	case errors.As(err, &refused):
		return where + " " + refused.Error(), refusedFix(d, e, refused)
	case errors.Is(err, errSilentAfterUpgrade):
		return fmt.Sprintf("%s %v within %s: no pusher:connection_established", where, err, doctorTimeout),
			"something between answers the upgrade but does not pass the WebSocket's frames through: make the proxy a WebSocket pass-through (proxy_buffering off, no response caching or body filters on /app/)"
	case errors.As(err, &perr):
		return where + ": " + perr.Error(), pusherErrorFix(d, perr.code)
	}
	if e == d.direct {
		return where + ": " + err.Error(),
			fmt.Sprintf("start reverbd on this host with this .env (reverbd start, or its systemd/Supervisor unit); REVERB_SERVER_HOST:REVERB_SERVER_PORT is %s", d.cfg.Addr())
	}
	return where + ": " + err.Error(), "check that the proxy passes " + e.prefix + "/app/ to reverbd and see its error log"
}

// refusedFix explains an answer other than 101.
func refusedFix(d *diagnosis, e endpoint, r *upgradeRefused) string {
	prefix := e.prefix
	switch {
	case r.status >= 300 && r.status < 400:
		return fmt.Sprintf("the address redirects (to %s): WebSockets do not follow redirects, so point REVERB_SCHEME/REVERB_PORT at the final address (usually REVERB_SCHEME=https, REVERB_PORT=443)", r.location)
	case r.status == 404:
		return fmt.Sprintf("wrong path: nothing serves %s/app/ there. The proxy needs a location %s/app/ passed to reverbd, and REVERB_SERVER_PATH (now %q) must be the prefix the proxy and the clients (Echo's wsPath) use",
			prefix, prefix, d.cfg.ServerPath)
	case r.status == 400 || r.status == 426 || r.status == 200:
		// reverbd answers 400 to a GET of /app/{key} that is not an upgrade: the request
		// reached it without its Upgrade and Connection headers.
		return "the request reached the server without its Upgrade/Connection headers (a proxy drops them unless told to pass them): " + upgradeHeadersFix
	case r.status == 502 || r.status == 503 || r.status == 504:
		return fmt.Sprintf("the proxy cannot reach reverbd: check that reverbd runs and that the proxy's upstream is its address (127.0.0.1:%d, REVERB_SERVER_PORT)", d.cfg.ServerPort)
	case r.status == 401 || r.status == 403:
		return "something between refuses the request (authentication or an access rule on the proxy): /app/ must be open to browsers"
	}
	return "see the proxy's error log for this request"
}

// pusherErrorFix explains a Pusher error code received instead of, or right after,
// connection_established (Pusher's WebSocket protocol docs list the codes).
func pusherErrorFix(d *diagnosis, code int) string {
	switch code {
	case 4001:
		return fmt.Sprintf("the server has no app with key %s: REVERB_APP_KEY must be the same in the Laravel app, in Echo (VITE_REVERB_APP_KEY) and on the server; a proxy routing to another server shows the same", d.app.Key)
	case 4009:
		return "the server refused the connection's Origin: run the doctor with --origin set to the app's URL (APP_URL), and check that REVERB_APP_ALLOWED_ORIGINS (allowed_origins) lists that host"
	case 4004:
		return "the app is at its connection limit (REVERB_APP_MAX_CONNECTIONS)"
	case 4200, 4201, 4202:
		return "the server closed the connection (restarting or stopping?): run the doctor again once it is up"
	}
	return "see reverbd's log for this connection"
}

// checkIdle holds a WebSocket idle through the public address for --idle, then pings. A
// proxy whose read timeout is shorter than the clients' ping interval (pusher-js pings after
// activity_timeout of silence) cuts connections that are quiet for a while.
func checkIdle(ctx context.Context, d *diagnosis) outcome {
	if d.opts.idle == 0 {
		return notApplicable(fmt.Sprintf("not checked: run with --idle %ds to hold a connection idle past the clients' activity_timeout (%ds) and catch a shorter proxy timeout",
			int(d.app.ActivityTimeout.Seconds())+10, int(d.app.ActivityTimeout.Seconds())))
	}
	p, err := dialProbe(ctx, d.public, d.app.Key, d.opts.origin)
	if err != nil {
		detail, fix := upgradeProblem(d, d.public, err)
		return fail(detail, fix)
	}
	defer p.close()
	start := time.Now()
	ev, err := p.next(d.opts.idle) // answers the server's pings, as a client does
	if err == nil {
		return fail(fmt.Sprintf("unexpected %s while idle", ev.Event), "see reverbd's log for this connection")
	}
	if isTimeout(err) {
		err = p.send(pusherEvent{Event: "pusher:ping", Data: json.RawMessage(`{}`)})
		if err == nil {
			_, err = p.waitFor("pusher:pong", "", doctorTimeout)
		}
		if err == nil {
			return ok("a connection idle for %s through %s stayed open and answered pusher:ping", d.opts.idle, shortURL(d.public))
		}
	}
	idle := time.Since(start).Round(100 * time.Millisecond)
	var perr *pusherError
	if errors.As(err, &perr) && perr.code >= 4000 {
		return fail(fmt.Sprintf("reverbd closed the idle connection after %s: %v", idle, perr), pusherErrorFix(d, perr.code))
	}
	return fail(fmt.Sprintf("the connection was cut after %s idle (%v), without a close frame from reverbd: something between has a read timeout shorter than %s", idle, err, d.opts.idle),
		fmt.Sprintf("pusher-js pings after activity_timeout (%ds) of silence and reverbd after REVERB_APP_PING_INTERVAL (%ds): raise the proxy's timeouts well above both (nginx: proxy_read_timeout 180s; proxy_send_timeout 180s; a load balancer: its idle timeout)",
			int(d.app.ActivityTimeout.Seconds()), int(d.app.PingInterval.Seconds())))
}
