package registry

import (
	"encoding/json"
	"testing"

	"github.com/reverbd/reverbd/config"
)

// A webhook event is encoded as Pusher sends it: a client_event always has data, a string,
// even an empty one; the other types have the fields they set and no data.
func TestWebhookEventJSON(t *testing.T) {
	two := 2
	for _, tc := range []struct {
		ev   WebhookEvent
		want string
	}{
		{WebhookEvent{Name: config.WebhookClientEvent, Channel: "private-x", Event: "client-a", SocketID: "1.2"},
			`{"name":"client_event","channel":"private-x","event":"client-a","data":"","socket_id":"1.2"}`},
		{WebhookEvent{Name: config.WebhookClientEvent, Channel: "presence-x", UserID: "7", Event: "client-a", Data: `{"a":"<b>"}`, SocketID: "1.2"},
			`{"name":"client_event","channel":"presence-x","user_id":"7","event":"client-a","data":"{\"a\":\"\u003cb\u003e\"}","socket_id":"1.2"}`},
		{WebhookEvent{Name: config.WebhookMemberAdded, Channel: "presence-x", UserID: "7"},
			`{"name":"member_added","channel":"presence-x","user_id":"7"}`},
		{WebhookEvent{Name: config.WebhookChannelOccupied, Channel: "x"},
			`{"name":"channel_occupied","channel":"x"}`},
		{WebhookEvent{Name: config.WebhookSubscriptionCount, Channel: "x", SubscriptionCount: &two},
			`{"name":"subscription_count","channel":"x","subscription_count":2}`},
	} {
		b, err := json.Marshal(tc.ev)
		if err != nil || string(b) != tc.want {
			t.Errorf("%+v encodes as %s, %v\nwant %s", tc.ev, b, err, tc.want)
			continue
		}
		var back WebhookEvent
		if err := json.Unmarshal(b, &back); err != nil || back.Name != tc.ev.Name || back.Data != tc.ev.Data || back.UserID != tc.ev.UserID {
			t.Errorf("%s decodes as %+v, %v", b, back, err)
		}
	}
	// In a batch's list too (a value, not a pointer, as the sender encodes it).
	b, _ := json.Marshal([]WebhookEvent{{Name: config.WebhookClientEvent, Channel: "private-x", Event: "client-a"}})
	if want := `[{"name":"client_event","channel":"private-x","event":"client-a","data":""}]`; string(b) != want {
		t.Errorf("list encodes as %s, want %s", b, want)
	}
}
