package ws_test

import (
	"encoding/json"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/config/catalogue"
	"github.com/reverbd/reverbd/registry/metrics"
	rws "github.com/reverbd/reverbd/ws"
)

// catalogueApp is testApp with the example app's catalogue in the given mode.
func catalogueApp(t *testing.T, mode string) config.App {
	t.Helper()
	c, err := catalogue.Parse([]byte(`
- {name: tenant, pattern: "tenant.{id}", kind: [private, presence], max_presence_members: 1}
- {name: tenantAdmins, pattern: "tenant.{id}.admins", kind: private, accept_client_events_from: none}
- {name: user, pattern: "user.{id}", kind: private, max_subscriptions: 2}
- {name: news, pattern: "news", kind: public}
`))
	if err != nil {
		t.Fatal(err)
	}
	app := testApp()
	app.Channels, app.ChannelsMode = c, mode
	return app
}

// subscriptionErrorText is the error of a channel-scoped pusher:subscription_error.
func subscriptionErrorText(t *testing.T, f frame, channel string) (typ, text string, status int) {
	t.Helper()
	typ, status = subscriptionError(t, f, channel)
	var d struct{ Error string }
	_ = json.Unmarshal(f.Data, &d)
	return typ, d.Error, status
}

// In strict mode a subscribe to a channel outside the catalogue gets a channel-scoped
// subscription_error naming the nearest pattern; the connection stays open and its other
// channels still receive.
func TestCatalogueStrictSubscribe(t *testing.T) {
	e := newEnv(t, rws.Params{}, catalogueApp(t, config.ChannelsStrict))
	c := e.connect(t)
	c.subscribe("news", "")
	c.send(subscribeMsg("private-tenant.5.admin", sign(c.socketID+":private-tenant.5.admin"), ""))
	typ, text, status := subscriptionErrorText(t, c.read(), "private-tenant.5.admin")
	want := `channel "private-tenant.5.admin" is not in the channel catalogue; did you mean "tenant.{id}.admins"?`
	if typ != "InvalidChannel" || status != 400 || text != want {
		t.Errorf("subscription_error %s %d %q, want InvalidChannel 400 %q", typ, status, text, want)
	}
	c.ping()
	deliver(e, "news", "headline", `"x"`, "")
	if f := c.read(); f.Event != "headline" || f.Channel != "news" {
		t.Errorf("got %+v, want the event of news", f)
	}
	// A client event on the refused channel cannot pass either.
	c.send(map[string]any{"event": "client-typing", "channel": "private-tenant.5.admin", "data": map[string]any{}})
	if code, msg := errorOf(t, c.read()); code != 4301 || !strings.Contains(msg, "not in the channel catalogue") {
		t.Errorf("client event outside: %d %s", code, msg)
	}
	// Channels inside the catalogue, and the user's own channel, subscribe.
	c.subscribe("private-tenant.5", "")
	c.subscribe("private-tenant.5.admins", "")
}

// The options of a pattern override the app's for its channels.
func TestCataloguePatternOptions(t *testing.T) {
	e := newEnv(t, rws.Params{}, catalogueApp(t, config.ChannelsStrict))
	c := e.connect(t)

	// max_subscriptions: 2 channels of user.{id} per connection, whatever the app allows.
	c.subscribe("private-user.1", "")
	c.subscribe("private-user.2", "")
	c.send(subscribeMsg("private-user.3", sign(c.socketID+":private-user.3"), ""))
	if typ, text, status := subscriptionErrorText(t, c.read(), "private-user.3"); typ != "LimitReached" || status != 403 || !strings.Contains(text, "2 channels of user.{id}") {
		t.Errorf("over the pattern's max_subscriptions: %s %d %q", typ, status, text)
	}
	c.subscribe("private-tenant.1", "") // another pattern still subscribes

	// accept_client_events_from none on tenant.{id}.admins, though the app accepts members.
	c.subscribe("private-tenant.1.admins", "")
	c.send(map[string]any{"event": "client-typing", "channel": "private-tenant.1.admins", "data": map[string]any{}})
	if code, _ := errorOf(t, c.read()); code != 4301 {
		t.Errorf("client event on a none pattern: code %d, want 4301", code)
	}

	// max_presence_members 1 on presence-tenant.{id}.
	c.subscribe("presence-tenant.1", `{"user_id":"1"}`)
	d := e.connect(t)
	data := `{"user_id":"2"}`
	d.send(subscribeMsg("presence-tenant.1", sign(d.socketID+":presence-tenant.1:"+data), data))
	if typ, status := subscriptionError(t, d.read(), "presence-tenant.1"); typ != "LimitReached" || status != 4100 {
		t.Errorf("over the pattern's max_presence_members: %s %d", typ, status)
	}
}

// In warn mode a channel outside the catalogue subscribes and is counted by shape; with a
// catalogue, the channel metrics are labelled by the entry's name.
func TestCatalogueWarnSubscribe(t *testing.T) {
	m := metrics.New(metrics.Params{Prefix: "reverbd_", AppIDs: []string{"3"}})
	e := newEnv(t, rws.Params{Metrics: m}, catalogueApp(t, config.ChannelsWarn))
	c := e.connect(t)
	c.subscribe("private-tenant.5.admin", "")
	c.subscribe("private-tenant.6.admin", "")
	c.subscribe("private-tenant.6", "")
	deliver(e, "private-tenant.5.admin", "note", `"x"`, "")
	if f := c.read(); f.Event != "note" {
		t.Errorf("got %+v, want the event of the channel outside the catalogue", f)
	}
	fams, err := m.Families()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range fams["channels_outside_catalogue_total"].GetMetric() {
		got[labelOf(s.GetLabel(), "source")+" "+labelOf(s.GetLabel(), "shape")] = s.GetCounter().GetValue()
	}
	if len(got) != 1 || got["subscribe private-tenant.{id}.admin"] != 2 {
		t.Errorf("channels_outside_catalogue_total = %v", got)
	}
	shapes := map[string]float64{}
	for _, s := range fams["channel_subscriptions"].GetMetric() {
		shapes[labelOf(s.GetLabel(), "shape")] = s.GetGauge().GetValue()
	}
	if shapes["tenant"] != 1 || shapes["private-tenant.{id}.admin"] != 2 {
		t.Errorf("channel_subscriptions by shape = %v, want tenant 1 and the outside shape 2", shapes)
	}
}

// labelOf is the value of the label name among labels.
func labelOf(labels []*dto.LabelPair, name string) string {
	for _, l := range labels {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
