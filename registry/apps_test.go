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
