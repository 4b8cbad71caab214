package main

import (
	"strings"
	"testing"
)

const (
	testKey    = "278d425bdf160c739803"
	testSecret = "7ad3773142a6692b25b8"
)

// TestSignQuery checks the HTTP API vector of Pusher's HTTP API reference.
func TestSignQuery(t *testing.T) {
	body := []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`)
	got := signQuery(testKey, testSecret, "POST", "/apps/3/events", body, 1353088179)
	want := "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0" +
		"&body_md5=ec365a775a4cd0599faeb73354201b6f" +
		"&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
	if got != want {
		t.Fatalf("signQuery:\n got %s\nwant %s", got, want)
	}
}

// TestSignQueryNoBody checks that body_md5 is left out without a body (GET vector
// without user parameters is not in the doc, so only the shape is checked).
func TestSignQueryNoBody(t *testing.T) {
	got := signQuery(testKey, testSecret, "GET", "/apps/3/connections", nil, 1353088179)
	if strings.Contains(got, "body_md5") || !strings.HasPrefix(got, "auth_key=") {
		t.Fatalf("signQuery without body: %s", got)
	}
}

// TestChannelAuth checks the channel authorization vectors of Pusher's authentication signature docs.
func TestChannelAuth(t *testing.T) {
	for _, tc := range []struct{ socket, channel, data, sig string }{
		{"1234.1234", "private-foobar", "", "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{"123.456", "private-tenant.42", "", "92990c7f81cd88e32aa5a5d1541f3bd8488f29f54f4d6a4481cb64309626e726"},
		{"123.456", "presence-room.1", `{"user_id":"7","user_info":{"name":"Ada"}}`, "488698a19334380bc56cd0a8ba09e7fabf633456b4c7ab4bed2df5c70f184617"},
		{"1234.1234", "presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Channels"}}`, "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"},
	} {
		got := channelAuth(testKey, testSecret, tc.socket, tc.channel, tc.data)
		if want := testKey + ":" + tc.sig; got != want {
			t.Errorf("channelAuth(%s, %s): got %s, want %s", tc.socket, tc.channel, got, want)
		}
	}
}
