package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/reverbd/reverbd/config"
	"github.com/reverbd/reverbd/registry"
	rws "github.com/reverbd/reverbd/ws"
)

// watchApp is testApp with watchlists of at most 3 user ids.
func watchApp() config.App {
	app := testApp()
	app.MaxWatchlistSize = 3
	return app
}

// watchEvents decodes a pusher_internal:watchlist_events frame as pusher-js reads it: each
// event's name and user ids.
func watchEvents(t *testing.T, f frame) map[string][]string {
	t.Helper()
	if f.Event != "pusher_internal:watchlist_events" || f.Channel != "" {
		t.Fatalf("got %+v, want pusher_internal:watchlist_events", f)
	}
	var d struct {
		Events []struct {
			Name    string   `json:"name"`
			UserIDs []string `json:"user_ids"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(f.dataString(t)), &d); err != nil {
		t.Fatalf("watchlist data %s: %v", f.Data, err)
	}
	out := map[string][]string{}
	for _, ev := range d.Events {
		out[ev.Name] = append(out[ev.Name], ev.UserIDs...)
	}
	return out
}

// signedIn signs c in with userData and reads pusher:signin_success.
func (c *client) signedIn(userData string) {
	c.t.Helper()
	c.signin(userData)
	if f := c.read(); f.Event != "pusher:signin_success" {
		c.t.Fatalf("got %+v, want pusher:signin_success", f)
	}
}

// expectWatch reads c's next frame, a watchlist frame of want.
func (c *client) expectWatch(want map[string][]string) {
	c.t.Helper()
	if got := watchEvents(c.t, c.read()); !reflect.DeepEqual(got, want) {
		c.t.Fatalf("watchlist events %v, want %v", got, want)
	}
}

// A signed-in connection with a watchlist gets the state of its watchlist right after the
// signin (the online users, then the others), then each watched user coming online on its
// first signed-in connection and going offline when its last one is gone; unwatched users
// and presence-only members are never told.
func TestWatchlist(t *testing.T) {
	e := newEnv(t, rws.Params{}, watchApp())
	twelve := e.connect(t)
	twelve.signedIn(`{"id":"12"}`)
	watcher := e.connect(t)
	watcher.signedIn(`{"id":"1","watchlist":["9",12,"7","9"]}`)
	watcher.expectWatch(map[string][]string{"online": {"12"}, "offline": {"9", "7"}})

	nine, nineAgain, five, member := e.connect(t), e.connect(t), e.connect(t), e.connect(t)
	nine.signedIn(`{"id":"9"}`)
	watcher.expectWatch(map[string][]string{"online": {"9"}})
	nineAgain.signedIn(`{"id":9}`)
	five.signedIn(`{"id":"5"}`)
	member.subscribe("presence-room", `{"user_id":"7"}`)
	watcher.ping() // nothing for a second connection, an unwatched user or a member

	nine.conn.Close()
	watcher.ping()
	nineAgain.conn.Close()
	watcher.expectWatch(map[string][]string{"offline": {"9"}})

	// Signing in as another user takes the first offline.
	twelve.signin(`{"id":"13"}`)
	watcher.expectWatch(map[string][]string{"offline": {"12"}})
	twelve.read() // its signin_success

	// A watcher that signs in again watches its new list only.
	watcher.signedIn(`{"id":"1","watchlist":["5"]}`)
	watcher.expectWatch(map[string][]string{"online": {"5"}})
	seven := e.connect(t)
	seven.signedIn(`{"id":"7"}`)
	watcher.ping()
	five.conn.Close()
	watcher.expectWatch(map[string][]string{"offline": {"5"}})
}

// A watchlist of max_watchlist_size user ids is taken; a longer one, or one that is not an
// array of user ids, refuses the signin with pusher:error 4009 and a close.
func TestWatchlistLimit(t *testing.T) {
	e := newEnv(t, rws.Params{}, watchApp())
	ok := e.connect(t)
	ok.signedIn(`{"id":"1","watchlist":["2","3","4"]}`)
	ok.expectWatch(map[string][]string{"offline": {"2", "3", "4"}})
	for userData, wantMsg := range map[string]string{
		`{"id":"1","watchlist":["2","3","4","5"]}`: "The watchlist holds 4 user ids, more than the 3 allowed.",
		`{"id":"1","watchlist":"2"}`:               `"watchlist" must be an array`,
		`{"id":"1","watchlist":[{"id":2}]}`:        `"watchlist" must be an array`,
	} {
		c := e.connect(t)
		c.signin(userData)
		code, frames := c.expectClose()
		if code != 4009 || len(frames) != 1 {
			t.Fatalf("%s: close %d after %v, want pusher:error then close 4009", userData, code, frames)
		}
		if got, msg := errorOf(t, frames[0]); got != 4009 || !strings.Contains(msg, wantMsg) {
			t.Errorf("%s: error %d %q, want 4009 %q", userData, got, msg, wantMsg)
		}
	}
	// The refused signins never made anyone online.
	again := e.connect(t)
	again.signedIn(`{"id":"9","watchlist":["1"]}`)
	again.expectWatch(map[string][]string{"online": {"1"}})
}

// With max_watchlist_size 0 watchlists are ignored, however long, and signins untracked.
func TestWatchlistOff(t *testing.T) {
	e := newEnv(t, rws.Params{})
	c := e.connect(t)
	c.signedIn(`{"id":"1","watchlist":["2","3","4","5"]}`)
	c.ping()
	other := e.connect(t)
	other.signedIn(`{"id":"2"}`)
	c.ping()
	st, err := e.occupancy.SignIn(t.Context(), "3", "probe", "probe", []string{"1", "2"})
	if err != nil || len(st.Online) != 0 {
		t.Errorf("online with watchlists off: %v, %v", st.Online, err)
	}
}

// lossyOccupancy is a MemoryOccupancy whose online events can be lost on their way, as a
// relay's are while its subscription is down, and whose signins can fail to answer while
// still recorded, as a Redis occupancy's do while Redis is away (the node's record keeps
// them and writes them back).
type lossyOccupancy struct {
	*registry.MemoryOccupancy
	lose       atomic.Bool
	signinLost atomic.Bool
}

func (o *lossyOccupancy) SignIn(ctx context.Context, appID, socketID, userID string, watchlist []string) (registry.Watched, error) {
	st, err := o.MemoryOccupancy.SignIn(ctx, appID, socketID, userID, watchlist)
	if err == nil && o.signinLost.Load() {
		return registry.Watched{}, errors.New("redis away")
	}
	return st, err
}

func (o *lossyOccupancy) NotifyOnline(f func(registry.OnlineEvent)) {
	o.MemoryOccupancy.NotifyOnline(func(ev registry.OnlineEvent) {
		if !o.lose.Load() {
			f(ev)
		}
	})
}

// A watcher that missed online events gets the state of its watchlist again when the
// watchlists are read again; one that missed nothing gets nothing.
func TestWatchlistResync(t *testing.T) {
	occ := &lossyOccupancy{MemoryOccupancy: registry.NewMemoryOccupancy()}
	e := newEnv(t, rws.Params{Occupancy: occ}, watchApp())
	watcher, bystander := e.connect(t), e.connect(t)
	watcher.signedIn(`{"id":"1","watchlist":["9","7"]}`)
	watcher.expectWatch(map[string][]string{"offline": {"9", "7"}})
	bystander.signedIn(`{"id":"2","watchlist":["5"]}`)
	bystander.expectWatch(map[string][]string{"offline": {"5"}})

	occ.lose.Store(true)
	nine := e.connect(t)
	nine.signedIn(`{"id":"9"}`)
	nine.ping() // answered once the signin's handling, the occupancy's part included, is over
	occ.lose.Store(false)
	e.srv.ResyncWatchlists()
	watcher.expectWatch(map[string][]string{"online": {"9"}, "offline": {"7"}})

	e.srv.ResyncWatchlists()
	nine.conn.Close()
	watcher.expectWatch(map[string][]string{"offline": {"9"}}) // no second state before it
	bystander.ping()                                           // its state is as it was told
}

// A watcher whose signin's state could not be read (Redis away) gets its state when the
// watchlists are read again, even when every watched user is offline, as a signin's state
// always says; it is sent once.
func TestWatchlistResyncSendsTheStateASigninMissed(t *testing.T) {
	occ := &lossyOccupancy{MemoryOccupancy: registry.NewMemoryOccupancy()}
	e := newEnv(t, rws.Params{Occupancy: occ}, watchApp())
	occ.signinLost.Store(true)
	watcher := e.connect(t)
	watcher.signedIn(`{"id":"1","watchlist":["9","7"]}`)
	watcher.ping() // no state came before the pong
	occ.signinLost.Store(false)

	e.srv.ResyncWatchlists()
	watcher.expectWatch(map[string][]string{"offline": {"9", "7"}})
	e.srv.ResyncWatchlists()
	nine := e.connect(t)
	nine.signedIn(`{"id":"9"}`)
	watcher.expectWatch(map[string][]string{"online": {"9"}}) // no second state before it
}
