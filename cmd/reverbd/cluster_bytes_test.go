package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/reverbd/reverbd/registry/redistest"
)

// readFrame returns the next frame's payload as the server sent it, and its event.
func (c *wsClient) readFrame() (payload []byte, event string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	msg, err := readServerMessage(c.conn, c.r)
	var closed wsutil.ClosedError
	if errors.As(err, &closed) {
		c.t.Fatalf("closed (%d %s)", closed.Code, closed.Reason)
	}
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f struct {
		Event string `json:"event"`
	}
	if err := json.Unmarshal(msg, &f); err != nil {
		c.t.Fatalf("frame %s: %v", msg, err)
	}
	return msg, f.Event
}

// expectFrame reads frames until one named event arrives and returns its payload.
func (c *wsClient) expectFrame(event string) []byte {
	c.t.Helper()
	for {
		if payload, ev := c.readFrame(); ev == event {
			return payload
		}
	}
}

// joinWith subscribes c to a presence channel with channelData exactly as given (a numeric
// user_id, say), signed as the app signs it, and waits for subscription_succeeded.
func (c *wsClient) joinWith(channel, channelData string) {
	c.t.Helper()
	mac := hmac.New(sha256.New, []byte(e2eSecret))
	mac.Write([]byte(c.socketID + ":" + channel + ":" + channelData))
	msg, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"auth": e2eKey + ":" + hex.EncodeToString(mac.Sum(nil)), "channel_data": channelData, "channel": channel}})
	c.send(string(msg))
	c.expect("pusher_internal:subscription_succeeded")
}

// A client event reaches the subscribers on another node with the bytes the sender's own
// node gives its subscribers: not compacted, its <, >, & and U+2028 not escaped.
func TestClusterClientEventBytes(t *testing.T) {
	env := clusterEnv(t, redistest.URL(t))
	nodes := startNodes(t, 2, env)
	a, b := nodes[0], nodes[1]
	const ch = "private-chat"
	sender, local, remote := a.dial(t), a.dial(t), b.dial(t)
	for _, c := range []*wsClient{sender, local, remote} {
		c.subscribe(ch)
	}
	const data = "{ \"html\" : \"<b>a &amp; b</b> & <i>\u2028</i>\",\n \"n\": [1, 2 ] }"
	sender.send(`{"event":"client-note","channel":"` + ch + `","data":` + data + `}`)
	want := local.expectFrame("client-note")
	if got := remote.expectFrame("client-note"); string(got) != string(want) {
		t.Errorf("on the other node:\n%q\non the sender's node:\n%q", got, want)
	}
	if wantData := `"data":` + data + `}`; len(want) < len(wantData) || string(want[len(want)-len(wantData):]) != wantData {
		t.Errorf("on the sender's node %q, want the data as sent", want)
	}
}

// member_added and member_removed keep the JSON type of the user_id the app signed, on every
// node: the removal too, which the shared occupancy decides and relays.
func TestClusterMemberIDTypes(t *testing.T) {
	env := clusterEnv(t, redistest.URL(t))
	nodes := startNodes(t, 2, env)
	a, b := nodes[0], nodes[1]
	const ch = "presence-room"
	watcher := a.dial(t)
	watcher.joinWith(ch, `{"user_id":"1"}`)
	for _, id := range []string{`7`, `"8"`} {
		member := b.dial(t)
		member.joinWith(ch, `{"user_id":`+id+`,"user_info":{"name":"Ada"}}`)
		added := watcher.expect("pusher_internal:member_added")
		if want := `{"user_id":` + id + `,"user_info":{"name":"Ada"}}`; added != want {
			t.Errorf("member_added %s, want %s", added, want)
		}
		member.conn.Close()
		if removed := watcher.expect("pusher_internal:member_removed"); removed != `{"user_id":`+id+`}` {
			t.Errorf("member_removed %s, want the id %s as it joined", removed, id)
		}
	}
	// The same on the node the member left: its own subscriber hears the relayed removal.
	local := b.dial(t)
	local.joinWith(ch, `{"user_id":"2"}`)
	member := b.dial(t)
	member.joinWith(ch, `{"user_id":9}`)
	if added := local.expect("pusher_internal:member_added"); added != `{"user_id":9}` {
		t.Errorf("member_added on the member's node %s", added)
	}
	member.conn.Close()
	if removed := local.expect("pusher_internal:member_removed"); removed != `{"user_id":9}` {
		t.Errorf("member_removed on the member's node %s", removed)
	}
}
