package jobs

import (
	"encoding/json"
	"testing"
)

// previousFrame is a "frame" relay message as the version before encodeRelay read and wrote
// it: the payload a json.RawMessage in "p".
type previousFrame struct {
	Kind    string          `json:"k"`
	Node    string          `json:"n"`
	AppID   string          `json:"a,omitempty"`
	Channel string          `json:"c,omitempty"`
	Except  string          `json:"x,omitempty"`
	Payload json.RawMessage `json:"p,omitempty"`
}

// A frame's payload crosses nodes byte for byte, and the wire stays the one the version
// before used, so both read each other's frames during a rolling restart.
func TestRelayFrameWire(t *testing.T) {
	payload := "{ \"event\" : \"client-x\", \"channel\":\"private-chat\",\n\"data\": \"<b>a & b</b>\u2028\" }"
	b, err := encodeRelay(relayMessage{Kind: "frame", Node: "n1", AppID: "1", Channel: "private-chat", Except: "1.2", Payload: []byte(payload)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeRelay(string(b))
	if err != nil || string(m.Payload) != payload || m.Kind != "frame" || m.Node != "n1" || m.AppID != "1" || m.Channel != "private-chat" || m.Except != "1.2" {
		t.Fatalf("decoded %+v (payload %q), %v", m, m.Payload, err)
	}

	var old previousFrame
	if err := json.Unmarshal(b, &old); err != nil || string(old.Payload) != payload || old.Kind != "frame" || old.Channel != "private-chat" {
		t.Fatalf("the version before reads %+v, %v", old, err)
	}

	sent, err := json.Marshal(previousFrame{Kind: "frame", Node: "n0", AppID: "1", Channel: "private-chat", Payload: json.RawMessage(`{"event":"client-y","data":"{}"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := decodeRelay(string(sent)); err != nil || string(m.Payload) != `{"event":"client-y","data":"{}"}` || m.Node != "n0" {
		t.Fatalf("a frame of the version before decodes as %+v, %v", m, err)
	}

	if _, err := encodeRelay(relayMessage{Kind: "frame", Payload: []byte(`{"event":`)}); err == nil {
		t.Error("a payload that is not JSON was encoded")
	}
}
