package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/reverbd/reverbd/registry/redistest"
)

// countUntil reads c's frames until a pusher_internal:subscription_count of channel tells
// want, failing on any other count frame's channel or on a close.
func (c *wsClient) countUntil(channel string, want int) {
	c.t.Helper()
	for {
		ev, data := c.read()
		if strings.HasPrefix(ev, "close:") {
			c.t.Fatalf("closed (%s) while waiting for subscription_count %d", ev, want)
		}
		if ev != "pusher_internal:subscription_count" {
			continue
		}
		var d struct {
			Count *int `json:"subscription_count"`
		}
		if err := json.Unmarshal([]byte(data), &d); err != nil || d.Count == nil {
			c.t.Fatalf("subscription_count data %q: %v", data, err)
		}
		if *d.Count == want {
			return
		}
	}
}

// With REVERB_APP_SUBSCRIPTION_COUNT on, the subscribers of a channel on every node are told
// its count across the cluster: as connections subscribe on either node, and when a node
// dies and is reaped, with no count on a presence channel.
func TestClusterSubscriptionCount(t *testing.T) {
	env := append(clusterEnv(t, redistest.URL(t)), "REVERB_APP_SUBSCRIPTION_COUNT=true")
	a := startProcess(t, env...)
	waitUp(t, a, http.StatusOK)
	victim := startBinary(t, env)

	x := a.dial(t)
	x.subscribe("orders")
	x.countUntil("orders", 1)
	y := victim.dial(t)
	y.subscribe("orders")
	y.countUntil("orders", 2)
	x.countUntil("orders", 2)
	z := victim.dial(t)
	z.subscribe("private-orders")
	z.countUntil("private-orders", 1)
	w := victim.dial(t)
	w.subscribe("orders")
	for _, c := range []*wsClient{x, y, w} {
		c.countUntil("orders", 3)
	}

	// A presence channel gets member events, never counts.
	x.join("presence-room", "1")
	y.join("presence-room", "2")
	if err := a.sdk(t).Trigger("presence-room", "marker", "1"); err != nil {
		t.Fatal(err)
	}
	for {
		ev, _ := x.read()
		if ev == "marker" {
			break
		}
		if ev == "pusher_internal:subscription_count" {
			t.Fatalf("a presence subscriber got %s", ev)
		}
	}

	// The node with two of the three dies: once reaped, x is told 1.
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	x.countUntil("orders", 1)
}
