package registry

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/config/catalogue"
	"github.com/reverbd/reverbd/registry/metrics"
)

// Uncatalogued reports whether channel is never looked up in a catalogue: the per-user
// #server-to-user-{id} channels and the names the Pusher protocol reserves for itself
// (pusher- and pusher_ at the start). An app's catalogue lists only its own channels.
func Uncatalogued(channel string) bool {
	return strings.HasPrefix(channel, "#") || strings.HasPrefix(channel, "pusher-") || strings.HasPrefix(channel, "pusher_")
}

// CatalogueMatch looks channel up in app's catalogue when it is enforced (warn or strict):
// the entry it matches, if any, and whether it is outside the catalogue. An app whose mode is
// off, and an Uncatalogued channel, get (nil, false) without a look-up.
func CatalogueMatch(app *config.App, channel string) (entry *catalogue.Entry, outside bool) {
	if !app.ChannelsEnforced() || Uncatalogued(channel) {
		return nil, false
	}
	entry, ok := app.Channels.Match(channel)
	return entry, !ok
}

// ChannelLabel is channel's shape label in metrics: when app has a catalogue (whatever its
// mode), the name of the entry the channel matches ("tenantAdmins"); else, and for a channel
// outside it, the Shape inferred from the name ("private-tenant.{id}.admin").
func ChannelLabel(app *config.App, channel string) string {
	if app != nil && app.Channels != nil && !Uncatalogued(channel) {
		if e, ok := app.Channels.Match(channel); ok {
			return e.Name
		}
	}
	return Shape(channel)
}

// OutsideMessage is the answer to a channel refused in strict mode: it names the channel and
// the nearest pattern of the app's catalogue, e.g. `channel "private-tenant.5.admin" is not
// in the channel catalogue; did you mean "tenant.{id}.admins"?`.
// A channel whose name fits a pattern but with another kind or cache prefix gets the wire name
// the entry would give it: `...; did you mean "order.{id}" ("private-cache-order.5")?`.
func OutsideMessage(app *config.App, channel string) string {
	msg := fmt.Sprintf("channel %q is not in the channel catalogue", channel)
	if app.Channels == nil {
		return msg
	}
	_, _, name := catalogue.Split(channel)
	if e, ok := app.Channels.MatchName(name); ok && len(e.Kinds) > 0 {
		return msg + fmt.Sprintf("; did you mean %q (%q)?", e.Pattern, catalogue.Wire(e.Kinds[0], e.Cache, name))
	}
	if near := app.Channels.Suggest(channel); near != "" {
		msg += fmt.Sprintf("; did you mean %q?", near)
	}
	return msg
}

// maxOutsideShapes is the most shapes outside its catalogue an app gets a log line and a
// label value for; further ones are counted under metrics.OtherShape, logged once.
const maxOutsideShapes = metrics.MaxShapes

// Outsiders records the channels outside an app's catalogue that warn mode lets through:
// the first of each shape (see Shape) is logged, whether a trigger or a subscribe names it
// first, and each is counted in
// channels_outside_catalogue_total. It is safe for concurrent use; a nil *Outsiders records
// nothing.
type Outsiders struct {
	log     *slog.Logger
	metrics *metrics.Metrics

	mu   sync.Mutex
	seen map[outsideKey]bool // guarded by mu
	apps map[string]int      // guarded by mu: shapes seen per app
}

type outsideKey struct{ app, shape string }

// NewOutsiders returns Outsiders logging on log (nil: discarded) and counting in m (nil: not
// counted).
func NewOutsiders(log *slog.Logger, m *metrics.Metrics) *Outsiders {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Outsiders{log: log, metrics: m, seen: map[outsideKey]bool{}, apps: map[string]int{}}
}

// Saw records channel, outside app's catalogue, named by source (metrics.SourceTrigger or
// metrics.SourceSubscribe).
func (o *Outsiders) Saw(app *config.App, source, channel string) {
	if o == nil {
		return
	}
	k := outsideKey{app.ID, Shape(channel)}
	o.mu.Lock()
	first := !o.seen[k]
	if first {
		if o.apps[k.app] >= maxOutsideShapes {
			k.shape = metrics.OtherShape
			first = !o.seen[k]
		} else {
			o.apps[k.app]++
		}
		o.seen[k] = true
	}
	o.mu.Unlock()
	if first {
		attrs := []any{"app_id", app.ID, "source", source, "shape", k.shape, "channel", channel}
		if near := app.Channels.Suggest(channel); near != "" {
			attrs = append(attrs, "nearest", near)
		}
		o.log.Warn("channel outside the catalogue (warn mode: allowed; logged once per shape)", attrs...)
	}
	o.metrics.App(app.ID).OutsideCatalogue(source, k.shape)
}
