package registry

import (
	"errors"

	"github.com/reverbd/reverbd/config"
)

// ErrUnknownApp is returned for an app id or key that no configured app has.
var ErrUnknownApp = errors.New("registry: unknown app")

// Apps finds configured apps by id or key. It is read-only after NewApps and safe for
// concurrent use.
type Apps struct {
	byID  map[string]*config.App
	byKey map[string]*config.App
	all   []*config.App
}

// NewApps indexes apps. The caller has validated that ids and keys are unique.
func NewApps(apps []config.App) *Apps {
	a := &Apps{byID: map[string]*config.App{}, byKey: map[string]*config.App{}}
	for i := range apps {
		app := &apps[i]
		a.byID[app.ID] = app
		a.byKey[app.Key] = app
		a.all = append(a.all, app)
	}
	return a
}

// ByID returns the app with this id, or ErrUnknownApp.
func (a *Apps) ByID(id string) (*config.App, error) {
	if app, ok := a.byID[id]; ok {
		return app, nil
	}
	return nil, ErrUnknownApp
}

// ByKey returns the app with this key, or ErrUnknownApp.
func (a *Apps) ByKey(key string) (*config.App, error) {
	if app, ok := a.byKey[key]; ok {
		return app, nil
	}
	return nil, ErrUnknownApp
}

// All returns every app, in configuration order.
func (a *Apps) All() []*config.App { return a.all }
