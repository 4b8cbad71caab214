package registry

import (
	"context"
	"encoding/json"
	"errors"
)

// ErrOverQuota is returned by Occupancy.Connect when the app has reached max_connections.
var ErrOverQuota = errors.New("registry: application is over connection quota")

// ErrPresenceFull is returned by Occupancy.Subscribe when a new user would pass the
// channel's max_presence_members.
var ErrPresenceFull = errors.New("registry: presence channel is full")

// Member is one presence-channel user.
type Member struct {
	// UserID is the user id as a string; members are keyed by it.
	UserID string
	// RawID is the user_id JSON exactly as the app sent it ("7" or 7), so lists keep its type.
	RawID json.RawMessage
	// Info is the user_info JSON, or nil.
	Info json.RawMessage
}

// ChannelInfo is what the HTTP API reports about one channel.
type ChannelInfo struct {
	// SubscriptionCount is the number of subscribed connections.
	SubscriptionCount int
	// UserCount is the number of distinct presence users; 0 for other channels.
	UserCount int
}

// Presence is the member list of a presence channel as of one member event.
type Presence struct {
	// Members are the distinct users, in the order they joined.
	Members []Member
	// Seq is the sequence number of the channel's last member event that Members include
	// (see MemberEvent); 0 when the channel has had none.
	Seq uint64
}

// Subscribed is what Occupancy.Subscribe reports.
type Subscribed struct {
	// First reports, on a presence channel, that it is the user's first connection there:
	// the Occupancy has told the channel's members (member_added).
	First bool
	// Presence is, on a presence channel, the member list right after the subscribe, the
	// user included; zero elsewhere.
	Presence Presence
}

// Occupancy is the shared state of connections, subscriptions and presence members that the
// socket layer writes and the HTTP API reads. Implementations are safe for concurrent use.
//
// The Occupancy decides presence: each change of a channel's member set (a user's first
// connection there, or its last one gone) is a MemberEvent that the Occupancy itself tells,
// in the same step as the decision, so that every node hears the member events of a channel
// in the one order they were decided: a MemoryOccupancy calls the function given to
// NotifyMembers, a RedisOccupancy publishes them to every node on the relay's pub/sub
// channel.
type Occupancy interface {
	// Connect records socketID as an open connection of the app. With max > 0 it fails with
	// ErrOverQuota, recording nothing, when the app already has max connections; the check
	// and the write are one step. Connecting a socket already recorded changes nothing.
	Connect(ctx context.Context, appID, socketID string, max int) error
	// Disconnect removes the record of socketID; an unknown socket changes nothing.
	Disconnect(ctx context.Context, appID, socketID string) error
	// Connections returns the number of open connections of the app.
	Connections(ctx context.Context, appID string) (int, error)

	// Subscribe records socketID on channel. For a presence channel m is the member; on the
	// user's first connection there the member_added event is told (to everyone but
	// socketID). Subscribing a socket that is already subscribed changes nothing and reports
	// First=false. With maxMembers > 0 a user not yet on the channel is refused with
	// ErrPresenceFull, recording nothing, when the channel already has maxMembers users; the
	// check and the write are one step.
	Subscribe(ctx context.Context, appID, channel, socketID string, m *Member, maxMembers int) (Subscribed, error)
	// Unsubscribe removes socketID from channel. For a presence channel last reports whether
	// it was that user's last connection on the channel (member_removed is then told), and
	// userID names the user.
	Unsubscribe(ctx context.Context, appID, channel, socketID string) (userID string, last bool, err error)

	// Channel reports one channel; an unoccupied channel has zero counts.
	Channel(ctx context.Context, appID, channel string) (ChannelInfo, error)
	// Channels reports every occupied channel whose name starts with prefix.
	Channels(ctx context.Context, appID, prefix string) (map[string]ChannelInfo, error)
	// Members returns the distinct users of a presence channel, in the order they joined,
	// with the sequence number of the last member event they include.
	Members(ctx context.Context, appID, channel string) (Presence, error)

	// SignIn records socketID as signed in as userID (see OnlineEvent), replacing the user it
	// was signed in as, if another; the user's first signed-in connection makes it online,
	// and that is told. It reports which users of watchlist are online right after.
	SignIn(ctx context.Context, appID, socketID, userID string, watchlist []string) (Watched, error)
	// SignOut removes the signin of socketID; its user's last signed-in connection makes it
	// offline, and that is told. A socket not signed in changes nothing.
	SignOut(ctx context.Context, appID, socketID string) error
}

// MemberEvent is a change of a presence channel's member set, decided by the Occupancy:
// member_added on a user's first connection on the channel, member_removed when its last
// one is gone (it unsubscribed, or its node was reaped or left, or a node's write-back
// removed it).
type MemberEvent struct {
	AppID   string
	Channel string
	// Member is the user; on a removal only UserID and RawID are set (RawID may be empty
	// when the store no longer held the member).
	Member Member
	// Added is true for member_added, false for member_removed.
	Added bool
	// Seq orders the channel's member events: each is greater than every earlier one of the
	// channel, even across a restart of a shared store. Consecutive events of a channel
	// differ by 1, except where the channel emptied or its store was lost in between.
	Seq uint64
	// Except is the socket id not to tell (the joining socket), or "".
	Except string
}

// MemberNotifier is implemented by an Occupancy that tells its member events in process (a
// single node's MemoryOccupancy); the socket layer gives it the function that delivers them.
type MemberNotifier interface {
	// NotifyMembers sets the function told each member event, in order, while the decision
	// is still held: it must not block or call the Occupancy.
	NotifyMembers(func(MemberEvent))
}

// CountEvent is a non-presence channel's subscription count, across the cluster, right after
// it changed: what pusher_internal:subscription_count tells the channel's subscribers when
// their app has subscription_count on. Counts of a channel are told in the order they
// changed; a MemoryOccupancy tells them through NotifyCounts, a RedisOccupancy publishes
// them, for the apps with subscription_count on, to every node as the relay's "count"
// messages.
type CountEvent struct {
	AppID   string
	Channel string
	Count   int
}

// CountNotifier is implemented by an Occupancy that tells subscription counts in process (a
// single node's MemoryOccupancy).
type CountNotifier interface {
	// NotifyCounts sets the function told the count of each non-presence channel whose
	// subscription count changed, in order, while the change is still held: it must not
	// block or call the Occupancy. It is told every app's counts; the receiver picks.
	NotifyCounts(func(CountEvent))
}
