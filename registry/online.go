package registry

import "context"

// Online users. A user is online in an app while at least one connection anywhere in the
// cluster is signed in as it (pusher:signin), offline once the last one is gone: closed,
// terminated, signed in as another user, or removed with its node (reaped after a crash, or
// a graceful stop). The Occupancy decides each change once for the cluster, in the same step
// as the signin or sign-out that makes it, and tells it as an OnlineEvent: a MemoryOccupancy
// through NotifyOnline, a RedisOccupancy by publishing it, from the script that decides it,
// to every node as the relay's "online" or "offline" message. The socket layer tells the
// connections whose watchlist holds the user (Pusher's watchlist events:
// https://pusher.com/docs/channels/using_channels/watchlist-events/).

// OnlineEvent is a change of a user's online state in an app.
type OnlineEvent struct {
	AppID  string
	UserID string
	// Online is true when the user came online (its first signed-in connection), false when
	// it went offline (its last one gone).
	Online bool
	// Seq orders the app's online events: each is greater than every earlier one of the app,
	// even across a restart of a shared store; 0 when the event was not decided by the
	// occupancy.
	Seq uint64
}

// Watched is what Occupancy.SignIn reports: which users of the watchlist are online right
// after the signin, as of the app's online event numbered Seq (0: none yet). Events numbered
// up to Seq are included; those after it are not.
type Watched struct {
	Online []string
	Seq    uint64
}

// OnlineReader is implemented by an Occupancy that reads which users are online without
// changing anything (both do): the socket layer reads its watchers' state again with it when
// it may have missed online events.
type OnlineReader interface {
	// Watched reports which of users are online in the app.
	Watched(ctx context.Context, appID string, users []string) (Watched, error)
}

// OnlineNotifier is implemented by an Occupancy that tells online events in process (a
// single node's MemoryOccupancy).
type OnlineNotifier interface {
	// NotifyOnline sets the function told each online event, in order, while the decision is
	// still held: it must not block or call the Occupancy.
	NotifyOnline(func(OnlineEvent))
}
