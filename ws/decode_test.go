package ws

import (
	"bytes"
	"encoding/json"
	"testing"
)

// decoderSeeds are client messages, subscribe data and channel_data as clients send them,
// and the corners where a hand-written decoder and encoding/json could part.
var decoderSeeds = []string{
	`{"event":"pusher:subscribe","data":{"auth":"k:abc","channel":"private-tenant.1"}}`,
	`{"event":"pusher:subscribe","data":{"auth":"k:abc","channel_data":"{\"user_id\":7,\"user_info\":{\"id\":7,\"name\":\"User 7\"}}","channel":"presence-tenant.1"}}`,
	`{"event":"pusher:subscribe","data":"{\"channel\":\"private-x\",\"auth\":\"k:00\"}"}`,
	`{"event":"pusher:ping","data":{}}`,
	`{"event":"client-typing","channel":"private-x","data":{"a":[1,2.5e3,-0,true,false,null,"\u00e9\ud83d\ude00"]}}`,
	`{"auth":"k:abc","channel_data":{"user_id":"7","user_info":null},"channel":"presence-x"}`,
	`{"user_id":7,"user_info":{"id":7,"name":"User 7"}}`,
	`{"user_id":"u-\u00e9","user_info":"x"}`,
	`{"user_id":""}`, `{"user_id":null}`, `{"user_id":true}`, `{"user_id":1.5e-3}`, `{"user_id":-0}`,
	`{"event":"a","event":"b"}`, `{"event":"a","event":null}`, `{"event":"a","data":1,"data":null}`,
	`{"EVENT":"a"}`, `{"Channel":"a","channel":"b"}`, `{"ev\u0065nt":"a"}`, `{"ſ":1,"user_id":1}`, `{"uſer_id":1}`,
	`{"event":"\ud800"}`, `{"event":"\ud83d\ude00x"}`, "{\"event\":\"\xff\"}", `{"event":"a\"b\\c\/\b\f\n\r\t"}`,
	` { "event" : "pusher:ping" , "data" : [ ] } `, `{"event":"a"} x`, `{"event":"a",}`, `{,}`, `{}`,
	`{"data":01}`, `{"data":1.}`, `{"data":-}`, `{"data":1e}`, `{"data":[1,]}`, `{"data":{"a"}}`, `{"data":tru}`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`, `null`, `"x"`, `[]`, ``,
	`"{\"channel\":\"a\"}"`, `"\u0000"`, "\"a\x01\"",
}

// FuzzFastDecoders checks the single-pass decoders against encoding/json on arbitrary input:
// whenever a fast decoder takes an input, encoding/json accepts it too with the same result.
func FuzzFastDecoders(f *testing.F) {
	for _, s := range decoderSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if end := skipValue(b, skipSpace(b, 0), 0); end >= 0 && skipSpace(b, end) == len(b) && !json.Valid(b) {
			t.Errorf("skipValue takes %q, which is not valid JSON", b)
		}

		if msg, ok := fastMessage(b); ok {
			var want clientMessage
			if err := json.Unmarshal(b, &want); err != nil {
				t.Errorf("fastMessage takes %q, encoding/json: %v", b, err)
			} else if msg.Event != want.Event || msg.Channel != want.Channel || !sameRaw(msg.Data, want.Data) {
				t.Errorf("fastMessage(%q) = %q %q %q, encoding/json %q %q %q",
					b, msg.Event, msg.Channel, msg.Data, want.Event, want.Channel, want.Data)
			}
		}

		if d, ok := fastSubscribe(b); ok {
			var want subscribeData
			if err := json.Unmarshal(b, &want); err != nil {
				t.Errorf("fastSubscribe takes %q, encoding/json: %v", b, err)
			} else if d.Channel != want.Channel || d.Auth != want.Auth || !sameRaw(d.ChannelData, want.ChannelData) {
				t.Errorf("fastSubscribe(%q) = %q %q %q, encoding/json %q %q %q",
					b, d.Channel, d.Auth, d.ChannelData, want.Channel, want.Auth, want.ChannelData)
			}
		}

		if id, rawID, info, ok := fastMember(b); ok {
			wid, wraw, winfo, wok := jsonMember(b)
			if !wok || id != wid || !bytes.Equal(rawID, wraw) || !bytes.Equal(info, winfo) {
				t.Errorf("fastMember(%q) = %q %q %q, encoding/json %q %q %q %v", b, id, rawID, info, wid, wraw, winfo, wok)
			}
		}

		if skipString(b, 0) != len(b) {
			return // stringBytes takes validated values only
		}
		if s, ok := stringBytes(b); ok {
			var want string
			if err := json.Unmarshal(b, &want); err != nil || string(s) != want {
				t.Errorf("stringBytes(%q) = %q, encoding/json %q (%v)", b, s, want, err)
			}
		}
	})
}

// sameRaw compares raw JSON values; encoding/json leaves an absent one nil.
func sameRaw(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// The messages clients send all the time take the fast path; were they left to encoding/json
// the results would be the same, only slower, so this is what keeps the fast path in use.
func TestFastDecodersTakeWhatClientsSend(t *testing.T) {
	presence := []byte(`{"event":"pusher:subscribe","data":{"auth":"k:1f2e","channel_data":"{\"user_id\":7,\"user_info\":{\"id\":7,\"name\":\"Zoë \\\"Z\\\"\"}}","channel":"presence-tenant.1"}}`)
	msg, ok := fastMessage(presence)
	if !ok || msg.Event != "pusher:subscribe" {
		t.Fatalf("fastMessage declined %s", presence)
	}
	d, ok := fastSubscribe(unwrapData(msg.Data))
	if !ok || d.Channel != "presence-tenant.1" || d.Auth != "k:1f2e" {
		t.Fatalf("fastSubscribe declined %s", msg.Data)
	}
	channelData := channelDataBytes(d.ChannelData)
	if want := `{"user_id":7,"user_info":{"id":7,"name":"Zoë \"Z\""}}`; string(channelData) != want {
		t.Fatalf("channel_data %s, want %s", channelData, want)
	}
	if id, rawID, info, ok := fastMember(channelData); !ok || id != "7" || string(rawID) != "7" || string(info) != `{"id":7,"name":"Zoë \"Z\""}` {
		t.Fatalf("fastMember(%s) = %q %s %s %v", channelData, id, rawID, info, ok)
	}
	if _, _, _, ok := fastMember([]byte(`{"user_id":"a-7"}`)); !ok {
		t.Error("fastMember declined a string user_id")
	}

	for _, b := range []string{
		`{"event":"pusher:ping","data":{}}`,
		`{"event":"pusher:subscribe","data":"{\"channel\":\"private-x\",\"auth\":\"k:00\"}"}`,
		`{"event":"pusher:unsubscribe","data":{"channel":"private-x"}}`,
		`{"event":"client-typing","channel":"private-x","data":{"text":"h\u00e9llo \ud83d\ude00"}}`,
	} {
		if _, ok := fastMessage([]byte(b)); !ok {
			t.Errorf("fastMessage declined %s", b)
		}
	}
}

// Input the fast pass leaves alone still gets encoding/json's result.
func TestDecodersFallBackToEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		in           string
		event, chan_ string
		ok           bool
	}{
		{`{"EVENT":"pusher:ping"}`, "pusher:ping", "", true},
		{`{"event":"pusher:ping","Channel":"a","channel":"b"}`, "pusher:ping", "b", true},
		{`{"ev\u0065nt":"x"}`, "x", "", true},
		{`{"event":"\ud83d\ude00"}`, "😀", "", true},
		{`{"event":"a","event":null}`, "a", "", true},
		{`{"event":1}`, "", "", false},
		{`{"event":"a"`, "", "", false},
	} {
		if _, ok := fastMessage([]byte(tc.in)); ok {
			t.Errorf("fastMessage took %s", tc.in)
		}
		msg, ok := decodeMessage([]byte(tc.in))
		if ok != tc.ok || msg.Event != tc.event || msg.Channel != tc.chan_ {
			t.Errorf("decodeMessage(%s) = %q %q %v, want %q %q %v", tc.in, msg.Event, msg.Channel, ok, tc.event, tc.chan_, tc.ok)
		}
	}
}
