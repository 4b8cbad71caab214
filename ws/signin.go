package ws

import (
	"encoding/json"
	"strings"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// signin handles pusher:signin (Pusher's authentication signature docs): the signature over
// "{socket_id}::user::{user_data}" is checked, and on success the connection is known as the
// user, receives its #server-to-user-{id} events, and gets pusher:signin_success. A failure
// closes the connection with 4009, as soketi does.
func (c *Conn) signin(raw json.RawMessage) {
	var d struct {
		Auth     string `json:"auth"`
		UserData string `json:"user_data"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		c.Send(errorFrame(errInvalidMessage))
		return
	}
	key, sig, ok := strings.Cut(d.Auth, ":")
	if !ok || key != c.App().Key || !registry.ValidSignature(c.App().Secret, c.id+"::user::"+d.UserData, sig) {
		c.srv.log.Info("signin refused: bad signature", "app_id", c.App().ID, "socket_id", c.id)
		c.stats.AuthFailed(metrics.AuthSignin)
		c.close(errSigninRefused)
		return
	}
	var user struct {
		ID        json.RawMessage `json:"id"`
		Watchlist json.RawMessage `json:"watchlist"`
	}
	if json.Unmarshal([]byte(d.UserData), &user) != nil {
		c.close(errSigninNoID)
		return
	}
	id, ok := idString(user.ID)
	if !ok {
		c.srv.log.Info("signin refused: no user id", "app_id", c.App().ID, "socket_id", c.id)
		c.close(errSigninNoID)
		return
	}
	watching := c.App().MaxWatchlistSize > 0
	var watchlist []string
	if watching {
		if watchlist, ok = parseWatchlist(user.Watchlist); !ok {
			c.srv.log.Info("signin refused: invalid watchlist", "app_id", c.App().ID, "socket_id", c.id)
			c.close(errWatchlistInvalid)
			return
		}
		if limit := c.App().MaxWatchlistSize; len(watchlist) > limit {
			c.srv.log.Info("signin refused: max_watchlist_size", "app_id", c.App().ID, "socket_id", c.id, "size", len(watchlist), "max", limit)
			c.stats.LimitHit(metrics.LimitMaxWatchlistSize)
			c.close(watchlistTooLong(len(watchlist), limit))
			return
		}
	}
	// The user channel changes under c.mu, as subscriptions do: release, which reads userID
	// under it, then always removes the channel the hub holds. So does the watchlist: forget
	// finds it in the index.
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	if previous := c.userID; previous != "" && previous != id {
		c.srv.hub.remove(c.App().ID, registry.UserChannelPrefix+previous, c)
	}
	c.userID = id
	c.srv.hub.add(c.App().ID, registry.UserChannelPrefix+id, c)
	recorded := false
	if watching {
		c.srv.watches.begin(c, c.App().ID, watchlist)
	} else {
		recorded = c.srv.watches.drop(c) // watchlist events were turned off since
	}
	c.mu.Unlock()
	c.authorized()
	c.Send(eventFrame("pusher:signin_success", "", mustJSON(map[string]string{"user_data": d.UserData})))
	if watching {
		c.watchUsers(id, watchlist)
	} else if recorded {
		c.unwatch(c.srv.deadlines.context())
	}
}

// TerminateUser closes, with 4009, every connection of the app on this node that is signed
// in as userID or is a presence member with that user_id (Pusher's user authentication docs).
func (s *Server) TerminateUser(appID, userID string) int {
	n := 0
	s.conns.each(func(c *Conn) {
		if c.App().ID != appID || !c.isUser(userID) {
			return
		}
		n++
		c.close(errTerminated)
	})
	return n
}

// isUser reports whether c is signed in as userID or holds a presence membership as userID.
func (c *Conn) isUser(userID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return false // released: its subscriptions left are being removed (see forget)
	}
	if c.userID == userID {
		return true
	}
	for _, sub := range c.channels {
		if sub.member != nil && sub.member.UserID == userID {
			return true
		}
	}
	return false
}
