package main

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/reverbd/reverbd/registry/redistest"
)

// signin signs c in with userData, authenticated by the Pusher SDK, and reads
// pusher:signin_success.
func (c *wsClient) signin(userData map[string]any) {
	c.t.Helper()
	sdk := pusher.Client{AppID: e2eID, Key: e2eKey, Secret: e2eSecret}
	b, err := sdk.AuthenticateUser([]byte("socket_id="+c.socketID), userData)
	if err != nil {
		c.t.Fatal(err)
	}
	var auth struct {
		Auth     string `json:"auth"`
		UserData string `json:"user_data"`
	}
	if err := json.Unmarshal(b, &auth); err != nil {
		c.t.Fatal(err)
	}
	msg, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": auth})
	c.send(string(msg))
	c.expect("pusher:signin_success")
}

// watchlistEvents reads frames until a pusher_internal:watchlist_events and returns its
// events as name → user ids.
func (c *wsClient) watchlistEvents() map[string][]string {
	c.t.Helper()
	data := c.expect("pusher_internal:watchlist_events")
	var d struct {
		Events []struct {
			Name    string   `json:"name"`
			UserIDs []string `json:"user_ids"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		c.t.Fatalf("watchlist events %q: %v", data, err)
	}
	out := map[string][]string{}
	for _, ev := range d.Events {
		out[ev.Name] = append(out[ev.Name], ev.UserIDs...)
	}
	return out
}

func (c *wsClient) expectWatchlist(want map[string][]string) {
	c.t.Helper()
	if got := c.watchlistEvents(); !reflect.DeepEqual(got, want) {
		c.t.Fatalf("watchlist events %v, want %v", got, want)
	}
}

// A watcher on one node hears the users it watches come online and go offline on another:
// once for a user signed in on both nodes, and when the other node dies and is reaped.
func TestClusterWatchlist(t *testing.T) {
	env := clusterEnv(t, redistest.URL(t))
	a := startProcess(t, env...)
	waitUp(t, a, http.StatusOK)
	victim := startBinary(t, env)

	watcher := a.dial(t)
	watcher.signin(map[string]any{"id": "1", "watchlist": []string{"7", "9"}})
	watcher.expectWatchlist(map[string][]string{"offline": {"7", "9"}})

	seven := victim.dial(t)
	seven.signin(map[string]any{"id": "7"})
	watcher.expectWatchlist(map[string][]string{"online": {"7"}})
	sevenHere := a.dial(t)
	sevenHere.signin(map[string]any{"id": "7"})
	nine := victim.dial(t)
	nine.signin(map[string]any{"id": "9"})
	watcher.expectWatchlist(map[string][]string{"online": {"9"}}) // nothing for 7's second signin

	// The victim dies: 9, signed in there only, goes offline once it is reaped; 7 stays.
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	watcher.expectWatchlist(map[string][]string{"offline": {"9"}})
	sevenHere.conn.Close()
	watcher.expectWatchlist(map[string][]string{"offline": {"7"}})

	// A watchlist past Pusher's 100 user ids is refused.
	long := make([]string, 101)
	for i := range long {
		long[i] = strings.Repeat("u", i+1)
	}
	over := a.dial(t)
	sdk := pusher.Client{AppID: e2eID, Key: e2eKey, Secret: e2eSecret}
	b, _ := sdk.AuthenticateUser([]byte("socket_id="+over.socketID), map[string]any{"id": "2", "watchlist": long})
	over.send(`{"event":"pusher:signin","data":` + string(b) + `}`)
	if data := over.expect("pusher:error"); !strings.Contains(data, "more than the 100 allowed") {
		t.Errorf("pusher:error %s", data)
	}
	if ev, _ := over.read(); ev != "close:4009" {
		t.Errorf("after the refusal: %s, want close 4009", ev)
	}
}
