package ws

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"github.com/reverbd/reverbd/registry"
)

// Watchlists (Pusher's watchlist events:
// https://pusher.com/docs/channels/using_channels/watchlist-events/). A connection that signs
// in with a watchlist in its user_data, on an app with max_watchlist_size above 0, is told
// when the users it watches come online or go offline, in
// pusher_internal:watchlist_events frames, which pusher-js emits on pusher.user.watchlist
// (src/core/watchlist.ts). The occupancy decides online and offline for the cluster (see
// registry.OnlineEvent) and numbers them per app; this node keeps an index of its watchers by
// watched user.
//
// Right after the signin, the connection gets one frame with the state of its watchlist as
// of the signin: an "online" event listing the watched users online and an "offline" event
// listing the others (each left out when it would be empty), as Pusher sends "the current
// online status of each user in the watchlist". From then on each change is one frame. The
// events decided while the signin was under way are held until the state is sent, then
// those it does not include (numbered after it) follow.

// watchlistEventsName is the event of a watchlist frame.
const watchlistEventsName = "pusher_internal:watchlist_events"

// watchIndex is this node's signed-in connections whose signin the occupancy tracks, and
// their watchlists by watched user.
type watchIndex struct {
	mu      sync.Mutex
	conns   map[*Conn]*watcher
	watched map[watchKey]map[*Conn]struct{}
	resync  chan struct{} // asks runResync for a pass (capacity 1: requests coalesce)
}

type watchKey struct{ app, user string }

// watcher is one signed-in connection of watchIndex.
type watcher struct {
	app   string
	users []string // the watchlist, without repeats
	// recorded is set once the occupancy was asked to record the signin: forget signs it out.
	recorded bool
	// holding is set from the signin until its state is sent; held are the events meanwhile.
	holding bool
	held    []registry.OnlineEvent
	from    uint64          // events numbered up to from are in the state sent
	last    uint64          // the greatest number of an event or state sent
	online  map[string]bool // the watched users told online, as of last
	// stated is set once the watcher was sent a state of its watchlist: a signin whose
	// state could not be read gets one when the watchlists are read again.
	stated bool
}

func (x *watchIndex) init() {
	x.conns = map[*Conn]*watcher{}
	x.watched = map[watchKey]map[*Conn]struct{}{}
	x.resync = make(chan struct{}, 1)
}

// begin makes c a watcher of users in app, holding its events until open, in place of what c
// watched before. It reports whether the occupancy had recorded c's earlier signin.
func (x *watchIndex) begin(c *Conn, app string, users []string) (wasRecorded bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old := x.conns[c]; old != nil {
		wasRecorded = old.recorded
		x.unwatch(c, old)
	}
	w := &watcher{app: app, users: users, holding: true, recorded: wasRecorded}
	x.conns[c] = w
	for _, u := range users {
		k := watchKey{app, u}
		set := x.watched[k]
		if set == nil {
			set = map[*Conn]struct{}{}
			x.watched[k] = set
		}
		set[c] = struct{}{}
	}
	return wasRecorded
}

// unwatch takes w, c's watcher, out of the index by watched user. Called with x.mu held.
func (x *watchIndex) unwatch(c *Conn, w *watcher) {
	for _, u := range w.users {
		k := watchKey{w.app, u}
		if set := x.watched[k]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(x.watched, k)
			}
		}
	}
}

// drop takes c out of the index and reports whether the occupancy recorded its signin.
func (x *watchIndex) drop(c *Conn) (recorded bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	w := x.conns[c]
	if w == nil {
		return false
	}
	delete(x.conns, c)
	x.unwatch(c, w)
	return w.recorded
}

// open ends what begin started, once the occupancy recorded the signin: with known set, c
// gets the state of its watchlist (st), then the events held since begin that st does not
// include; otherwise (the state could not be read) the held events as they are.
func (x *watchIndex) open(c *Conn, st registry.Watched, known bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	w := x.conns[c]
	if w == nil || !w.holding {
		return
	}
	w.recorded = true
	if known {
		w.from = st.Seq
		w.told(st)
		if len(w.users) > 0 {
			c.Send(watchlistState(w.users, st.Online))
			w.stated = true
		}
	}
	for _, ev := range w.held {
		if ev.Seq == 0 || ev.Seq > w.from {
			c.Send(watchlistFrame(ev.Online, ev.UserID))
			w.event(ev)
		}
	}
	w.holding, w.held = false, nil
}

// told records that the watcher was sent the state st.
func (w *watcher) told(st registry.Watched) {
	w.last = st.Seq
	w.online = make(map[string]bool, len(st.Online))
	for _, u := range st.Online {
		w.online[u] = true
	}
}

// event records that the watcher was sent ev.
func (w *watcher) event(ev registry.OnlineEvent) {
	w.last = max(w.last, ev.Seq)
	if w.online == nil {
		w.online = map[string]bool{}
	}
	if ev.Online {
		w.online[ev.UserID] = true
	} else {
		delete(w.online, ev.UserID)
	}
}

// deliver tells ev to the watchers of its user.
func (x *watchIndex) deliver(ev registry.OnlineEvent) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var frame []byte
	for c := range x.watched[watchKey{ev.AppID, ev.UserID}] {
		w := x.conns[c]
		switch {
		case w.holding:
			w.held = append(w.held, ev)
		case ev.Seq == 0 || ev.Seq > w.from:
			if frame == nil {
				frame = watchlistFrame(ev.Online, ev.UserID)
			}
			c.Send(frame)
			w.event(ev)
		}
	}
}

// DeliverOnline tells this node's connections watching a user that it came online or went
// offline, as the occupancy decided (on a cluster, relayed from the script that decided it).
// It never blocks.
func (s *Server) DeliverOnline(ev registry.OnlineEvent) { s.watches.deliver(ev) }

// watchlistEvent is one element of a watchlist frame's events.
type watchlistEvent struct {
	Name    string   `json:"name"`
	UserIDs []string `json:"user_ids"`
}

// watchlistFrameOf is the pusher_internal:watchlist_events frame of events.
func watchlistFrameOf(events []watchlistEvent) []byte {
	return eventFrame(watchlistEventsName, "", mustJSON(map[string][]watchlistEvent{"events": events}))
}

// watchlistFrame is the frame of one user coming online (online set) or going offline.
func watchlistFrame(online bool, user string) []byte {
	name := "offline"
	if online {
		name = "online"
	}
	return watchlistFrameOf([]watchlistEvent{{Name: name, UserIDs: []string{user}}})
}

// watchlistState is the frame of a watchlist's state: its users online, then the others.
func watchlistState(watchlist, online []string) []byte {
	var offline []string
	for _, u := range watchlist {
		if !slices.Contains(online, u) {
			offline = append(offline, u)
		}
	}
	var events []watchlistEvent
	if len(online) > 0 {
		events = append(events, watchlistEvent{Name: "online", UserIDs: online})
	}
	if len(offline) > 0 {
		events = append(events, watchlistEvent{Name: "offline", UserIDs: offline})
	}
	return watchlistFrameOf(events)
}

// parseWatchlist reads the watchlist of a signin's user_data: user ids as strings or numbers,
// repeats dropped. A missing or null watchlist is empty; ok is false for anything else that
// is not an array of user ids.
func parseWatchlist(raw json.RawMessage) (users []string, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, false
	}
	seen := make(map[string]bool, len(items))
	for _, item := range items {
		id, ok := idString(item)
		if !ok {
			return nil, false
		}
		if !seen[id] {
			seen[id] = true
			users = append(users, id)
		}
	}
	return users, true
}

// watchlistTooLong is the refusal of a signin whose watchlist holds n distinct user ids, more
// than max.
func watchlistTooLong(n, max int) *Error {
	return &Error{4009, "The watchlist holds " + strconv.Itoa(n) + " user ids, more than the " + strconv.Itoa(max) + " allowed."}
}

// watchUsers records c's signin as userID in the occupancy and sends c the state of its
// watchlist; called by signin once c is signed in, on an app with watchlist events on.
func (c *Conn) watchUsers(userID string, watchlist []string) {
	s := c.srv
	ctx := s.deadlines.context()
	st, err := s.occupancy.SignIn(ctx, c.App().ID, c.id, userID, watchlist)
	if err != nil {
		// A shared occupancy keeps the signin in its node's record and writes it back once
		// Redis answers; the watchers then hear that the user came online.
		c.logClient(slog.LevelError, "watchlist state unavailable: occupancy", "err", err)
	}
	c.mu.Lock()
	if c.gone {
		// Released meanwhile: forget did not know of the signin, so it is undone here.
		c.mu.Unlock()
		c.unwatch(ctx)
		return
	}
	s.watches.open(c, st, err == nil)
	c.mu.Unlock()
}

// unwatch removes c's signin from the occupancy (the user goes offline if it was its last
// signed-in connection).
func (c *Conn) unwatch(ctx context.Context) {
	if err := c.srv.occupancy.SignOut(ctx, c.App().ID, c.id); err != nil {
		c.srv.log.Error("sign-out failed: occupancy", "app_id", c.App().ID, "socket_id", c.id, "err", err)
	}
}

// signOut removes a released connection's signin from the occupancy, if it recorded one.
func (s *Server) signOut(ctx context.Context, c *Conn) {
	if s.watches.drop(c) {
		c.unwatch(ctx)
	}
}
