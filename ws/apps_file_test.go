package ws_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/reverbd/reverbd/config"
	rws "github.com/reverbd/reverbd/ws"
)

// An app from the apps file that leaves accept_client_events_from out accepts client events
// only from members: a socket not subscribed to a channel never injects events into it.
func TestAppsFileClientEventsFromMembersOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "apps.json")
	apps := `[{"app_id": 3, "key": "` + testKey + `", "secret": "` + testSecret + `"}]`
	if err := os.WriteFile(path, []byte(apps), 0o600); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, ".env") // empty: the app comes from the apps file alone
	if err := os.WriteFile(envFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(envFile, []string{"REVERB_APPS_FILE=" + path})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps) != 1 {
		t.Fatalf("apps = %+v", cfg.Apps)
	}
	e := newEnv(t, rws.Params{}, cfg.Apps...)
	member, outsider := e.connect(t), e.connect(t)
	member.subscribe("private-chat", "")
	member.subscribe("presence-room", `{"user_id":"7"}`)
	for _, ch := range []string{"private-chat", "presence-room"} {
		outsider.sendRaw([]byte(`{"event":"client-injected","channel":"` + ch + `","data":{}}`))
		if code, _ := errorOf(t, outsider.read()); code != 4009 {
			t.Errorf("%s: outsider's client event answered %d, want 4009", ch, code)
		}
	}
	deliver(e, "private-chat", "marker", `"m"`, "")
	if f := member.read(); f.Event != "marker" {
		t.Errorf("member got %+v, want nothing from the outsider", f)
	}
	// A member's own client events still go through.
	other := e.connect(t)
	other.subscribe("private-chat", "")
	member.sendRaw([]byte(`{"event":"client-typing","channel":"private-chat","data":{}}`))
	if f := other.read(); f.Event != "client-typing" {
		t.Errorf("member's client event: %+v", f)
	}
}
