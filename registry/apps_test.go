package registry

import (
	"errors"
	"slices"
	"testing"

	"github.com/reverbd/reverbd/config"
)

// Replace swaps the whole set for the look-ups that follow and reports, by app id, what was
// added, removed, and changed in any setting; an app returned before keeps its settings.
func TestAppsReplace(t *testing.T) {
	a := NewApps([]config.App{
		{ID: "1", Key: "k1", Secret: "s1", AllowedOrigins: []string{"*"}},
		{ID: "2", Key: "k2", Secret: "s2"},
		{ID: "3", Key: "k3", Secret: "s3"},
	})
	before, _ := a.ByID("1")
	change := a.Replace([]config.App{
		{ID: "1", Key: "k1", Secret: "rotated", AllowedOrigins: []string{"*"}},
		{ID: "3", Key: "k3", Secret: "s3"},
		{ID: "4", Key: "k4", Secret: "s4"},
	})
	if !slices.Equal(change.Added, []string{"4"}) || !slices.Equal(change.Removed, []string{"2"}) ||
		!slices.Equal(change.Changed, []string{"1"}) {
		t.Errorf("change = %+v", change)
	}
	if before.Secret != "s1" {
		t.Errorf("an app returned before the swap changed: %+v", before)
	}
	if app, err := a.ByKey("k1"); err != nil || app.Secret != "rotated" {
		t.Errorf("ByKey(k1) = %+v, %v", app, err)
	}
	if _, err := a.ByKey("k2"); !errors.Is(err, ErrUnknownApp) {
		t.Errorf("removed app's key: %v", err)
	}
	if _, err := a.ByID("4"); err != nil {
		t.Errorf("added app: %v", err)
	}
	if ids := len(a.All()); ids != 3 {
		t.Errorf("All() has %d apps", ids)
	}
}

// An app wants the event types of all its webhooks together; one without EventTypes takes
// every type, and an app without webhooks none. A Replace changes the answer at once.
func TestAppsWantsWebhook(t *testing.T) {
	a := NewApps([]config.App{
		{ID: "some", Key: "k1", Webhooks: []config.Webhook{
			{URL: "http://a", EventTypes: []string{config.WebhookChannelOccupied}},
			{URL: "http://b", EventTypes: []string{config.WebhookMemberAdded}},
		}},
		{ID: "every", Key: "k2", Webhooks: []config.Webhook{{URL: "http://a"}}},
		{ID: "none", Key: "k3"},
	})
	for _, c := range []struct {
		app, typ string
		want     bool
	}{
		{"some", config.WebhookChannelOccupied, true},
		{"some", config.WebhookMemberAdded, true},
		{"some", config.WebhookChannelVacated, false},
		{"every", config.WebhookCacheMiss, true},
		{"none", config.WebhookChannelOccupied, false},
		{"unknown", config.WebhookChannelOccupied, false},
	} {
		if got := a.WantsWebhook(c.app, c.typ); got != c.want {
			t.Errorf("WantsWebhook(%s, %s) = %v, want %v", c.app, c.typ, got, c.want)
		}
	}
	a.Replace([]config.App{{ID: "every", Key: "k2"}})
	if a.WantsWebhook("every", config.WebhookCacheMiss) {
		t.Error("an app whose webhooks were removed still wants events")
	}
}
