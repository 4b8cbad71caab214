package jobs

import (
	"testing"
	"time"
)

// The backoff doubles from the base up to the cap, each wait between half and all of it,
// the same for the same delivery and retry (so the handler and asynq agree on it).
func TestWebhookBackoff(t *testing.T) {
	r := WebhookRules{RetryFor: 5 * time.Minute}.withDefaults()
	for n, full := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		d := r.backoff("batch:0", n)
		if d < full/2 || d > full {
			t.Errorf("retry %d waits %s, want between %s and %s", n+1, d, full/2, full)
		}
		if again := r.backoff("batch:0", n); again != d {
			t.Errorf("retry %d waits %s, then %s", n+1, d, again)
		}
	}
	if d := r.backoff("x", 1000); d < 30*time.Second || d > time.Minute {
		t.Errorf("retry 1001 waits %s, want the cap", d)
	}
	if n := r.maxRetries(); n < 10 || n > 30 {
		t.Errorf("maxRetries for 5m = %d, want what fits at the shortest waits (about 15)", n)
	}
	if n := (WebhookRules{}).withDefaults().maxRetries(); n != 0 {
		t.Errorf("maxRetries for a budget of 0 = %d, want 0", n)
	}
}
