package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pusher/pusher-http-go/v5"
)

// deliveryTimeout bounds the wait for a triggered event: a healthy server delivers in
// milliseconds, the redis queue included.
const deliveryTimeout = 5 * time.Second

// checkTriggerPublic sends a signed trigger to the public address, as Laravel's broadcaster
// does, and waits for the event on the doctor's own subscriber connected there too.
func checkTriggerPublic(ctx context.Context, d *diagnosis) outcome {
	return roundTrip(ctx, d, d.public)
}

// checkTriggerDirect is the same round trip with the server's own listener, bypassing any
// proxy: when it passes and the public one fails, the proxy is at fault.
func checkTriggerDirect(ctx context.Context, d *diagnosis) outcome {
	return roundTrip(ctx, d, d.direct)
}

// roundTrip subscribes to a fresh public channel at e, triggers an event on it through e's
// HTTP API with the official Pusher SDK, and waits for the event.
func roundTrip(ctx context.Context, d *diagnosis, e endpoint) outcome {
	p, err := dialProbe(ctx, e, d.app.Key, d.opts.origin)
	if err != nil {
		detail, fix := upgradeProblem(d, e, err)
		return fail("subscriber: "+detail, fix)
	}
	defer p.close()
	channel := "doctor-" + randomHex(6)
	if err := p.subscribe(channel); err != nil {
		return fail(fmt.Sprintf("subscribing to %s: %v", channel, err), "see reverbd's log for this connection")
	}

	rec := &responseRecorder{next: &http.Transport{
		TLSClientConfig:     tlsConfigFor(e),
		TLSHandshakeTimeout: doctorTimeout,
		// No proxy from the environment: the doctor checks this address, not a forward proxy.
	}}
	defer rec.next.CloseIdleConnections()
	client := pusher.Client{
		AppID:  d.app.ID,
		Key:    d.app.Key,
		Secret: d.app.Secret,
		// The SDK signs /apps/{id}/events; a REVERB_SERVER_PATH prefix rides on the host,
		// and reverbd accepts the signature of the path without it.
		Host:       e.addr() + e.prefix,
		Secure:     e.tls,
		HTTPClient: &http.Client{Timeout: doctorTimeout, Transport: rec},
	}
	nonce := randomHex(8)
	api := fmt.Sprintf("POST %s://%s%s/apps/%s/events", map[bool]string{true: "https", false: "http"}[e.tls], e.addr(), e.prefix, d.app.ID)
	sent := time.Now()
	if err := client.Trigger(channel, "doctor.check", map[string]string{"nonce": nonce}); err != nil {
		status, server := rec.last()
		return fail(fmt.Sprintf("%s: %s", api, triggerError(err, status, server)), triggerFix(d, e, status))
	}
	ev, err := p.waitFor("doctor.check", channel, deliveryTimeout)
	if err != nil {
		return fail(fmt.Sprintf("%s answered 200, but the event did not reach the subscriber on %s within %s (%v)", api, channel, deliveryTimeout, err),
			undeliveredFix(d))
	}
	var data struct {
		Nonce string `json:"nonce"`
	}
	if err := decodeData(ev.Data, &data); err != nil || data.Nonce != nonce {
		return fail(fmt.Sprintf("the event on %s carried %s, not the doctor's nonce", channel, ev.Data), "another process triggers on the doctor's channel; run the doctor again")
	}
	return ok("%s answered 200; the event reached the doctor's WebSocket on %s in %s",
		api, channel, time.Since(sent).Round(100*time.Microsecond))
}

// triggerError rewrites the SDK's error with the status and, when a proxy answered, its name.
func triggerError(err error, status int, server string) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	if status != 0 && server != "" {
		return fmt.Sprintf("%s (Server: %s)", msg, server)
	}
	return msg
}

// triggerFix explains a refused or failed trigger.
func triggerFix(d *diagnosis, e endpoint, status int) string {
	switch status {
	case 0:
		if e == d.direct {
			return fmt.Sprintf("start reverbd on this host with this .env (it listens on %s)", d.cfg.Addr())
		}
		return "the HTTP API was not reachable at the public address; see the steps above and the proxy's error log"
	case 401:
		return "the signature was refused: REVERB_APP_ID, REVERB_APP_KEY and REVERB_APP_SECRET must be the same in the Laravel app and on the server (and the two clocks within 600 s)"
	case 404:
		if e == d.direct {
			return fmt.Sprintf("reverbd does not know app id %s, or REVERB_SERVER_PATH (%q) differs from the running server's", d.app.ID, d.cfg.ServerPath)
		}
		return fmt.Sprintf("the proxy needs a location %s/apps/ passed to reverbd (the Laravel app's broadcasts go there), or reverbd does not know app id %s", e.prefix, d.app.ID)
	case 413:
		return "the proxy's body limit is too small for a broadcast: client_max_body_size 1m (deployment/nginx/reverbd.conf)"
	case 503:
		return "reverbd cannot take triggers now: its queue is not ready (the Redis step tells whether Redis answers) or it is stopping; GET /up says which"
	case 502, 504:
		return fmt.Sprintf("the proxy cannot reach reverbd: check that reverbd runs and that the proxy's upstream is 127.0.0.1:%d (REVERB_SERVER_PORT)", d.cfg.ServerPort)
	}
	return "see reverbd's log for this request"
}

// undeliveredFix explains a trigger that was accepted but never delivered.
func undeliveredFix(d *diagnosis) string {
	if d.cfg.QueueConnection == "redis" {
		return fmt.Sprintf("the event waits in the asynq queue %q: a process must consume it (reverbd start with REVERB_QUEUE_WORKERS=true, or reverbd worker); the Redis step shows the queue's consumers", d.cfg.AsynqQueue())
	}
	return "see reverbd's log for the delivery"
}

// responseRecorder remembers the status and Server header of the last response, which the
// SDK's error message does not carry in a usable form.
type responseRecorder struct {
	next   *http.Transport
	mu     sync.Mutex
	status int
	server string
}

func (r *responseRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.status, r.server = resp.StatusCode, resp.Header.Get("Server")
	r.mu.Unlock()
	return resp, nil
}

func (r *responseRecorder) last() (status int, server string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status, r.server
}
