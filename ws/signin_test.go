package ws_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/reverbd/reverbd/registry"
	rws "github.com/reverbd/reverbd/ws"
)

func (c *client) signin(userData string) {
	c.t.Helper()
	c.send(map[string]any{"event": "pusher:signin", "data": map[string]any{
		"auth": sign(c.socketID + "::user::" + userData), "user_data": userData,
	}})
}

func TestSigninAndServerToUser(t *testing.T) {
	e := newEnv(t, rws.Params{})
	c, other := e.connect(t), e.connect(t)
	userData := `{"id":"7","user_info":{"name":"Ada"}}`
	c.signin(userData)
	f := c.read()
	if f.Event != "pusher:signin_success" {
		t.Fatalf("got %+v", f)
	}
	var d struct {
		UserData string `json:"user_data"`
	}
	if err := json.Unmarshal([]byte(f.dataString(t)), &d); err != nil || d.UserData != userData {
		t.Errorf("signin_success data = %s (%v)", f.Data, err)
	}
	// pusher-js subscribes to its own user channel after signing in; others are refused.
	c.subscribe("#server-to-user-7", "")
	other.send(subscribeMsg("#server-to-user-7", "", ""))
	if f := other.read(); f.Event != "pusher:subscription_error" {
		t.Errorf("other connection got %+v, want pusher:subscription_error", f)
	}
	e.srv.Hub().Deliver(context.Background(), registry.Event{
		AppID: "3", Channels: []string{"#server-to-user-7"}, Name: "notice", Data: `{"n":1}`, QueuedAt: time.Now(),
	})
	if f := c.read(); f.Event != "notice" || f.Channel != "#server-to-user-7" || f.dataString(t) != `{"n":1}` {
		t.Errorf("server-to-user event = %+v", f)
	}
}

func TestSigninRefused(t *testing.T) {
	for name, send := range map[string]func(c *client){
		"bad signature": func(c *client) {
			c.send(map[string]any{"event": "pusher:signin", "data": map[string]any{
				"auth": testKey + ":00", "user_data": `{"id":"7"}`}})
		},
		"no id": func(c *client) { c.signin(`{"user_info":{}}`) },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, rws.Params{})
			c := e.connect(t)
			send(c)
			code, frames := c.expectClose()
			if code != 4009 || len(frames) != 1 {
				t.Fatalf("close %d after %v, want pusher:error then close 4009", code, frames)
			}
			if got, _ := errorOf(t, frames[0]); got != 4009 {
				t.Errorf("error code = %d", got)
			}
		})
	}
}

func TestTerminateUser(t *testing.T) {
	e := newEnv(t, rws.Params{})
	signedIn, member, bystander := e.connect(t), e.connect(t), e.connect(t)
	signedIn.signin(`{"id":"7"}`)
	signedIn.read()
	member.subscribe("presence-room", `{"user_id":7}`)
	bystander.subscribe("presence-room", `{"user_id":"8"}`)

	if n := e.srv.TerminateUser("3", "7"); n != 2 {
		t.Errorf("terminated %d connections, want 2", n)
	}
	for _, c := range []*client{signedIn, member} {
		code, frames := c.expectClose()
		if code != 4009 || len(frames) == 0 {
			t.Errorf("close %d after %v, want 4009", code, frames)
		}
	}
	if f := bystander.read(); f.Event != "pusher_internal:member_removed" || f.dataString(t) != `{"user_id":7}` {
		t.Errorf("bystander got %+v, want member_removed for 7, a number as it joined", f)
	}
}

func TestDeliverSkipsExcludedSocket(t *testing.T) {
	e := newEnv(t, rws.Params{})
	a, b := e.connect(t), e.connect(t)
	a.subscribe("orders", "")
	b.subscribe("orders", "")
	deliver(e, "orders", "excluded", `"x"`, a.socketID)
	deliver(e, "orders", "marker", `"y"`, "")
	if f := a.read(); f.Event != "marker" {
		t.Errorf("excluded socket got %+v", f)
	}
	if f := b.read(); f.Event != "excluded" {
		t.Errorf("other socket got %+v", f)
	}
}
