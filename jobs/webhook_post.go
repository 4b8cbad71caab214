package jobs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reverbd/reverbd/registry/metrics"
)

// WebhookRules are how every webhook queue POSTs: one timeout per try, tries again after a
// failure that may pass (network errors, timeouts, 408, 409, 425, 429, 5xx) with exponential
// backoff and jitter, for RetryFor after the delivery was made; never after another 4xx (or
// a 3xx: redirects are not followed).
type WebhookRules struct {
	// Timeout bounds one POST, the answer's status included (REVERB_WEBHOOK_TIMEOUT).
	Timeout time.Duration
	// RetryFor is how long after its Created a delivery may still be tried
	// (REVERB_WEBHOOK_RETRY_FOR); 0 means one try.
	RetryFor time.Duration
	// BackoffBase is the wait before the first retry (default 1 s); each retry waits twice
	// as long as the one before, up to BackoffMax (default 1 min), each less up to half at
	// random.
	BackoffBase, BackoffMax time.Duration
}

// withDefaults fills the zero fields.
func (r WebhookRules) withDefaults() WebhookRules {
	if r.Timeout <= 0 {
		r.Timeout = 4 * time.Second
	}
	if r.BackoffBase <= 0 {
		r.BackoffBase = time.Second
	}
	if r.BackoffMax < r.BackoffBase {
		r.BackoffMax = max(time.Minute, r.BackoffBase)
	}
	return r
}

// backoff is the wait before retry n+1 of the delivery id (n retries done). The jitter is
// drawn from id and n, so every process computes the same wait: the asynq server's
// RetryDelayFunc and the handler deciding whether a retry fits in the budget agree.
func (r WebhookRules) backoff(id string, n int) time.Duration {
	d := r.BackoffMax
	if n < 30 {
		d = min(r.BackoffBase<<n, r.BackoffMax)
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write([]byte{byte(n), byte(n >> 8)})
	half := d / 2
	return half + time.Duration(h.Sum64()%uint64(half+1))
}

// maxRetries is the most retries that fit in RetryFor at the shortest waits: an upper bound
// for asynq's MaxRetry; the budget ends a delivery first.
func (r WebhookRules) maxRetries() int {
	n, sum := 0, time.Duration(0)
	for sum < r.RetryFor && n < 10000 {
		d := r.BackoffMax
		if n < 30 {
			d = min(r.BackoffBase<<n, r.BackoffMax)
		}
		sum += d / 2
		n++
	}
	return n
}

// retrySlack is how late a retry may start after its wait, in a queue that moves due retries
// on a timer (asynq's DelayedTaskCheckInterval): a retry is only scheduled when its wait and
// this slack end before the budget does.
const retrySlack = 2 * time.Second

// nextStep is what follows a try.
type nextStep int

const (
	stepDone  nextStep = iota // delivered
	stepRetry                 // try again after rules.backoff
	stepDrop                  // given up: refused for good, or past the budget
)

// webhookPoster makes the tries of webhook deliveries for every queue backend.
type webhookPoster struct {
	client  *http.Client
	rules   WebhookRules
	metrics *metrics.Metrics
	log     *slog.Logger
	now     func() time.Time
}

func newWebhookPoster(rules WebhookRules, m *metrics.Metrics, log *slog.Logger, now func() time.Time) *webhookPoster {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	rules = rules.withDefaults()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 16
	return &webhookPoster{
		client: &http.Client{
			Timeout:   rules.Timeout,
			Transport: transport,
			// A redirect is not followed: net/http would resend a POST as a GET, without the body.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		rules: rules, metrics: m, log: log, now: now,
	}
}

// errRefused is a final answer: a status that trying again will not change.
var errRefused = errors.New("refused")

// try POSTs d once; retried is how many tries failed before. It counts the try and says
// what comes next; a delivery given up is logged here, once.
func (p *webhookPoster) try(ctx context.Context, d *WebhookDelivery, retried int) (nextStep, error) {
	stats := p.metrics.App(d.AppID)
	deadline := d.Created.Add(p.rules.RetryFor)
	if p.now().After(deadline.Add(retrySlack)) {
		err := errors.New("the retry budget ended before this try (waiting in the queue)")
		p.drop(d, retried, metrics.WebhookDroppedBudget, err)
		return stepDrop, err
	}
	start := time.Now()
	err := p.post(ctx, d)
	if err == nil {
		stats.WebhookSent(time.Since(start))
		if retried > 0 {
			p.log.Debug("webhook delivered after retries", "app_id", d.AppID, "id", d.ID, "retries", retried)
		}
		return stepDone, nil
	}
	stats.WebhookFailed()
	if errors.Is(err, errRefused) {
		p.drop(d, retried, metrics.WebhookDroppedRejected, err)
		return stepDrop, err
	}
	if p.now().Add(p.rules.backoff(d.ID, retried)).Add(retrySlack).After(deadline) {
		p.drop(d, retried, metrics.WebhookDroppedBudget, err)
		return stepDrop, err
	}
	stats.WebhookRetried()
	p.log.Debug("webhook POST failed; tried again later", "app_id", d.AppID, "id", d.ID, "url", redactURL(d.URL), "retries", retried, "err", err)
	return stepRetry, err
}

// drop logs a delivery given up, without its headers or the URL's query, and counts it.
func (p *webhookPoster) drop(d *WebhookDelivery, retried int, reason string, err error) {
	p.metrics.App(d.AppID).WebhookDropped(reason)
	p.log.Warn("webhook dropped", "app_id", d.AppID, "id", d.ID, "url", redactURL(d.URL),
		"reason", reason, "tries", retried+1, "age", p.now().Sub(d.Created).Round(time.Millisecond), "err", err)
}

// post sends d once: nil on a 2xx; an error wrapping errRefused on a status not worth
// trying again; another error otherwise.
func (p *webhookPoster) post(ctx context.Context, d *WebhookDelivery) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, strings.NewReader(d.Body))
	if err != nil {
		return fmt.Errorf("%w: %v", errRefused, err) // the URL was validated; a reload may not have been
	}
	for name, value := range d.Headers {
		req.Header.Set(name, value)
	}
	req.Header.Set(headerContentType, "application/json")
	req.Header.Set(headerKey, d.Key)
	req.Header.Set(headerSignature, d.Signature)
	req.Header.Set(headerID, d.ID)
	req.Header.Set("User-Agent", "reverbd-webhooks")
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a token
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is reused
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case retryableStatus(s):
		return errors.New("status " + strconv.Itoa(s))
	default:
		return fmt.Errorf("%w: status %d", errRefused, s)
	}
}

// retryableStatus reports whether an answer with status s may pass when tried again.
func retryableStatus(s int) bool {
	switch s {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return s >= 500
}

// redactURL is u without its user info and query, for logs.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable)"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}
