package ws

import (
	"context"
	"time"

	"github.com/reverbd/reverbd/registry"
)

// Watchlists read again. Online events missed by this node (its relay subscription was down)
// or told again by a repair of the shared state leave watchers with a stale state; after
// either, the cluster asks for every watchlist's state to be read again (ResyncWatchlists),
// and a watcher whose state is not what it was told gets it again, in the same frame as right
// after its signin.

// ResyncWatchlists reads again, in the background, which watched users are online for every
// watcher on this node, and sends the state to those that may have missed events. A cluster
// calls it when it calls ResyncPresence.
func (s *Server) ResyncWatchlists() {
	select {
	case s.watches.resync <- struct{}{}:
	default:
	}
}

// watchTarget is one open watcher to read again.
type watchTarget struct {
	c *Conn
	w *watcher
}

// targets returns the open watchers with a watchlist.
func (x *watchIndex) targets() []watchTarget {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]watchTarget, 0, len(x.conns))
	for c, w := range x.conns {
		if !w.holding && len(w.users) > 0 {
			out = append(out, watchTarget{c, w})
		}
	}
	return out
}

// resynced sends c the state st of its watchlist, read again, if it differs from what c was
// told or c was never sent a state (its signin's could not be read), unless c signed in again
// since (w is no longer its watcher) or was told an event at least as recent as st.
func (x *watchIndex) resynced(c *Conn, w *watcher, st registry.Watched) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.conns[c] != w || w.holding || st.Seq <= w.last {
		return
	}
	w.from = st.Seq
	same := len(st.Online) == len(w.online)
	for _, u := range st.Online {
		same = same && w.online[u]
	}
	w.told(st)
	if !same || !w.stated {
		c.Send(watchlistState(w.users, st.Online))
		w.stated = true
	}
}

// runResync serves ResyncWatchlists until ctx ends. A pass that could not read every state
// (Redis still away) is tried again resyncRetry later.
func (x *watchIndex) runResync(ctx context.Context, s *Server) {
	reader, ok := s.occupancy.(registry.OnlineReader)
	if !ok {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-x.resync:
		}
		failed := 0
		for _, t := range x.targets() {
			rctx, cancel := context.WithTimeout(ctx, resyncTimeout)
			st, err := reader.Watched(rctx, t.c.App().ID, t.w.users)
			cancel()
			if err != nil {
				failed++
				continue
			}
			x.resynced(t.c, t.w, st)
		}
		if failed == 0 || ctx.Err() != nil {
			continue
		}
		s.log.Warn("watchlists not read again; retrying", "failed", failed)
		select {
		case <-ctx.Done():
			return
		case <-time.After(resyncRetry):
		}
		s.ResyncWatchlists()
	}
}
