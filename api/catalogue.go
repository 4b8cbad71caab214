package api

import (
	"net/http"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// checkCatalogue applies a strict app's channel catalogue to the channels of a trigger: the
// first channel outside it refuses the trigger with 400, naming the nearest pattern. It
// costs one test when the app's catalogue is not enforced.
func (a *API) checkCatalogue(app *config.App, channels []string) *requestError {
	if !app.ChannelsEnforced() || app.ChannelsMode != config.ChannelsStrict {
		return nil
	}
	for _, ch := range channels {
		if _, outside := registry.CatalogueMatch(app, ch); outside {
			return &requestError{status: http.StatusBadRequest, msg: registry.OutsideMessage(app, ch), catalogue: true}
		}
	}
	return nil
}

// sawOutside records, in warn mode, the channels of an accepted trigger that are outside the
// app's catalogue (logged once per shape, counted).
func (a *API) sawOutside(app *config.App, channels []string) {
	if !app.ChannelsEnforced() || app.ChannelsMode != config.ChannelsWarn {
		return
	}
	for _, ch := range channels {
		if _, outside := registry.CatalogueMatch(app, ch); outside {
			a.outsiders.Saw(app, metrics.SourceTrigger, ch)
		}
	}
}
