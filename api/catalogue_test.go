package api_test

import (
	"strings"
	"testing"

	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/config/catalogue"
	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// testCatalogue is the Laravel example app's ChannelRegistry.
func testCatalogue(t testing.TB) *catalogue.Catalogue {
	t.Helper()
	c, err := catalogue.Parse([]byte(`
- {name: tenant, pattern: "tenant.{id}", kind: [private, presence]}
- {name: tenantAdmins, pattern: "tenant.{id}.admins", kind: private}
- {name: user, pattern: "user.{id}", kind: private}
- {name: order, pattern: "order.{id}", kind: private, cache: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// In strict mode a trigger naming a channel outside the catalogue gets 400 with the channel
// and the nearest pattern, and nothing is queued; channels inside it are delivered.
func TestSDKCatalogueStrictTrigger(t *testing.T) {
	m := metrics.New(metrics.Params{Prefix: "reverbd_", AppIDs: []string{appID}})
	e := newEnv(t, options{channels: testCatalogue(t), channelsMode: config.ChannelsStrict, metrics: m})
	c := e.client()

	err := c.Trigger("private-tenant.5.admin", "note", "hi")
	want := `channel \"private-tenant.5.admin\" is not in the channel catalogue; did you mean \"tenant.{id}.admins\"?`
	if err == nil || !strings.Contains(err.Error(), "Status Code: 400") || !strings.Contains(err.Error(), want) {
		t.Fatalf("Trigger(private-tenant.5.admin) = %v, want 400 with %s", err, want)
	}
	// One channel outside refuses the whole trigger.
	err = c.TriggerMulti([]string{"private-tenant.5", "private-order.9"}, "note", "hi")
	if err == nil || !strings.Contains(err.Error(), `did you mean \"order.{id}\" (\"private-cache-order.9\")?`) {
		t.Fatalf("TriggerMulti with a non-cache order channel = %v", err)
	}
	if got := metricValue(t, m, "limits_hit_total", "limit", metrics.LimitChannelCatalogue); got != 2 {
		t.Errorf("limits_hit_total{limit=channel_catalogue} = %v, want 2", got)
	}

	// Inside the catalogue, and the names no catalogue lists, go through.
	channels := []string{"private-tenant.5", "presence-tenant.5", "private-tenant.5.admins", "private-cache-order.9"}
	if err := c.TriggerMulti(channels, "note", "hi"); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: channels, Name: "note", Data: "hi"})
	if err := c.SendToUser("7", "notice", "mail"); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, e.rec.next(t), registry.Event{AppID: appID, Channels: []string{"#server-to-user-7"}, Name: "notice", Data: "mail"})
	// Another app, without a catalogue, is not checked.
	other := e.client()
	other.AppID, other.Key, other.Secret = "4", "other-key", "other-secret"
	if err := other.Trigger("anything.at.all", "note", "hi"); err != nil {
		t.Fatal(err)
	}
	if ev := e.rec.next(t); ev.AppID != "4" {
		t.Errorf("delivered %+v, want app 4's event", ev)
	}
}

// In strict mode a batch with one channel outside the catalogue is refused whole.
func TestSDKCatalogueStrictBatch(t *testing.T) {
	e := newEnv(t, options{channels: testCatalogue(t), channelsMode: config.ChannelsStrict})
	_, err := e.client().TriggerBatch([]pusher.Event{
		{Channel: "private-tenant.1", Name: "a", Data: "1"},
		{Channel: "private-user.2", Name: "b", Data: "2"},
		{Channel: "private-users.3", Name: "c", Data: "3"},
	})
	if err == nil || !strings.Contains(err.Error(), `batch[2]: channel \"private-users.3\" is not in the channel catalogue; did you mean \"user.{id}\"?`) {
		t.Fatalf("TriggerBatch = %v", err)
	}
	// Nothing of the batch was queued: the next event delivered is the next trigger's.
	if err := e.client().Trigger("private-user.2", "after", "x"); err != nil {
		t.Fatal(err)
	}
	if ev := e.rec.next(t); ev.Name != "after" {
		t.Errorf("delivered %q first, want the event after the refused batch", ev.Name)
	}
}

// In warn mode a channel outside the catalogue is delivered, logged once per shape and
// counted by shape.
func TestSDKCatalogueWarn(t *testing.T) {
	m := metrics.New(metrics.Params{Prefix: "reverbd_", AppIDs: []string{appID}})
	e := newEnv(t, options{channels: testCatalogue(t), channelsMode: config.ChannelsWarn, metrics: m})
	c := e.client()
	for _, ch := range []string{"private-tenant.5.admin", "private-tenant.6.admin"} {
		if err := c.Trigger(ch, "note", "hi"); err != nil {
			t.Fatal(err)
		}
		if ev := e.rec.next(t); ev.Channels[0] != ch {
			t.Errorf("delivered %v, want %s", ev.Channels, ch)
		}
	}
	if _, err := c.TriggerBatch([]pusher.Event{{Channel: "private-tenant.7.admin", Name: "a", Data: "1"}, {Channel: "private-tenant.7", Name: "b", Data: "2"}}); err != nil {
		t.Fatal(err)
	}
	e.rec.next(t)
	e.rec.next(t)
	if got := metricValue(t, m, "channels_outside_catalogue_total", "source", "trigger", "shape", "private-tenant.{id}.admin"); got != 3 {
		t.Errorf("channels_outside_catalogue_total = %v, want 3", got)
	}
	warned := 0
	for _, line := range e.logs.take() {
		if strings.Contains(line, "channel outside the catalogue") {
			warned++
			if !strings.Contains(line, `"shape":"private-tenant.{id}.admin"`) || !strings.Contains(line, `"nearest":"tenant.{id}.admins"`) {
				t.Errorf("log line %s", line)
			}
		}
	}
	if warned != 1 {
		t.Errorf("%d warnings, want 1 for the one shape", warned)
	}
}

// metricValue is the value of the series of family name whose labels include the given
// name, value pairs (0 when there is none).
func metricValue(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	fams, err := m.Families()
	if err != nil {
		t.Fatal(err)
	}
	f := fams[name]
	if f == nil {
		return 0
	}
series:
	for _, s := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue series
			}
		}
		if s.Counter != nil {
			return s.GetCounter().GetValue()
		}
		return s.GetGauge().GetValue()
	}
	return 0
}
