package ws_test

import (
	"testing"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
	rws "github.com/reverbd/reverbd/ws"
)

// After the apps are replaced, a removed app's connections get 4001, a kept app's open
// connections check the next signature with its new secret, and an added app connects.
func TestAppsReplaced(t *testing.T) {
	removed := testApp()
	removed.ID, removed.Key = "4", "removed-key"
	e := newEnv(t, rws.Params{}, testApp(), removed)
	kept := e.connect(t)
	gone, first := e.dial(t, removed.Key)
	if first.Event != "pusher:connection_established" {
		t.Fatalf("first frame %+v", first)
	}

	rotated := testApp()
	rotated.Secret = "rotated-secret"
	added := testApp()
	added.ID, added.Key = "5", "added-key"
	change := e.apps.Replace([]config.App{rotated, added})
	if len(change.Added) != 1 || len(change.Removed) != 1 || len(change.Changed) != 1 {
		t.Errorf("change = %+v, want one app added, one removed, one changed", change)
	}
	if n := e.srv.AppsReplaced(); n != 1 {
		t.Errorf("AppsReplaced closed %d connections, want 1", n)
	}

	if code, _ := errorOf(t, gone.read()); code != 4001 {
		t.Errorf("removed app's connection: pusher:error %d, want 4001", code)
	}
	if code, _ := gone.expectClose(); code != 4001 {
		t.Errorf("removed app's connection closed with %d, want 4001", code)
	}

	channel := "private-rotated"
	msg := kept.socketID + ":" + channel
	kept.send(subscribeMsg(channel, testKey+":"+registry.Sign(testSecret, msg), ""))
	if f := kept.read(); f.Event != "pusher:subscription_error" {
		t.Errorf("signature with the old secret: %+v, want pusher:subscription_error", f)
	}
	kept.send(subscribeMsg(channel, testKey+":"+registry.Sign(rotated.Secret, msg), ""))
	if f := kept.read(); f.Event != "pusher_internal:subscription_succeeded" {
		t.Errorf("signature with the new secret: %+v, want subscription_succeeded", f)
	}

	if _, first := e.dial(t, added.Key); first.Event != "pusher:connection_established" {
		t.Errorf("added app: %+v", first)
	}
	if _, first := e.dial(t, removed.Key); first.Event != "pusher:error" {
		t.Errorf("removed app's key: %+v, want pusher:error", first)
	}
}
