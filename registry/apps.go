package registry

import (
	"errors"
	"reflect"
	"slices"
	"sync/atomic"

	"github.com/reverbd/reverbd/config"
)

// ErrUnknownApp is returned for an app id or key that no configured app has.
var ErrUnknownApp = errors.New("registry: unknown app")

// Apps finds configured apps by id or key. Replace swaps the whole set at once (a reload); a
// look-up sees the set before or after, never a mix. It is safe for concurrent use. An app
// returned is never changed: a reload makes new ones.
type Apps struct {
	set atomic.Pointer[appSet]
}

// appSet is one configuration's apps, indexed.
type appSet struct {
	byID  map[string]*config.App
	byKey map[string]*config.App
	all   []*config.App
	// hooks maps an app id to the webhook event types its webhooks take ("*": every
	// type); apps without webhooks are absent.
	hooks map[string]map[string]bool
}

// NewApps indexes apps. The caller has validated that ids and keys are unique.
func NewApps(apps []config.App) *Apps {
	a := &Apps{}
	a.set.Store(newAppSet(apps))
	return a
}

func newAppSet(apps []config.App) *appSet {
	s := &appSet{byID: map[string]*config.App{}, byKey: map[string]*config.App{}, hooks: map[string]map[string]bool{}}
	for i := range apps {
		app := &apps[i]
		s.byID[app.ID] = app
		s.byKey[app.Key] = app
		s.all = append(s.all, app)
		for _, w := range app.Webhooks {
			if s.hooks[app.ID] == nil {
				s.hooks[app.ID] = map[string]bool{}
			}
			if len(w.EventTypes) == 0 {
				s.hooks[app.ID]["*"] = true
			}
			for _, t := range w.EventTypes {
				s.hooks[app.ID][t] = true
			}
		}
	}
	return s
}

// WantsWebhook reports whether one of the app's webhooks takes events of eventType (a
// config.Webhook* name); a webhook without EventTypes takes every type. It suits the Wants
// of the webhook feeds.
func (a *Apps) WantsWebhook(appID, eventType string) bool {
	types := a.set.Load().hooks[appID]
	return types != nil && (types["*"] || types[eventType])
}

// ByID returns the app with this id, or ErrUnknownApp.
func (a *Apps) ByID(id string) (*config.App, error) {
	if app, ok := a.set.Load().byID[id]; ok {
		return app, nil
	}
	return nil, ErrUnknownApp
}

// ByKey returns the app with this key, or ErrUnknownApp.
func (a *Apps) ByKey(key string) (*config.App, error) {
	if app, ok := a.set.Load().byKey[key]; ok {
		return app, nil
	}
	return nil, ErrUnknownApp
}

// All returns every app, in configuration order.
func (a *Apps) All() []*config.App { return a.set.Load().all }

// AppsChange is what a Replace changed, as app ids in configuration order. An app is the
// same app while its id stays; Changed lists those with any other setting changed (key,
// secret, a limit).
type AppsChange struct {
	Added, Removed, Changed []string
}

// Replace makes apps the configured apps, at once for every look-up that follows, and
// reports what changed. The caller has validated apps as for NewApps.
func (a *Apps) Replace(apps []config.App) AppsChange {
	next := newAppSet(slices.Clone(apps))
	prev := a.set.Swap(next)
	var ch AppsChange
	for _, app := range next.all {
		old, ok := prev.byID[app.ID]
		switch {
		case !ok:
			ch.Added = append(ch.Added, app.ID)
		case !reflect.DeepEqual(old, app):
			ch.Changed = append(ch.Changed, app.ID)
		}
	}
	for _, app := range prev.all {
		if _, ok := next.byID[app.ID]; !ok {
			ch.Removed = append(ch.Removed, app.ID)
		}
	}
	return ch
}
