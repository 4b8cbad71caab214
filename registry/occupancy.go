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

// Occupancy is the shared state of connections, subscriptions and presence members that the
// socket layer writes and the HTTP API reads. Implementations are safe for concurrent use.
type Occupancy interface {
	// Connect records socketID as an open connection of the app. With max > 0 it fails with
	// ErrOverQuota, recording nothing, when the app already has max connections; the check
	// and the write are one step. Connecting a socket already recorded changes nothing.
	Connect(ctx context.Context, appID, socketID string, max int) error
	// Disconnect removes the record of socketID; an unknown socket changes nothing.
	Disconnect(ctx context.Context, appID, socketID string) error
	// Connections returns the number of open connections of the app.
	Connections(ctx context.Context, appID string) (int, error)

	// Subscribe records socketID on channel. For a presence channel m is the member; first
	// reports whether it is that user's first connection on the channel. Subscribing a socket
	// that is already subscribed changes nothing and reports first=false. With maxMembers > 0
	// a user not yet on the channel is refused with ErrPresenceFull, recording nothing, when
	// the channel already has maxMembers users; the check and the write are one step.
	Subscribe(ctx context.Context, appID, channel, socketID string, m *Member, maxMembers int) (first bool, err error)
	// Unsubscribe removes socketID from channel. For a presence channel last reports whether
	// it was that user's last connection on the channel, and userID names the user.
	Unsubscribe(ctx context.Context, appID, channel, socketID string) (userID string, last bool, err error)

	// Channel reports one channel; an unoccupied channel has zero counts.
	Channel(ctx context.Context, appID, channel string) (ChannelInfo, error)
	// Channels reports every occupied channel whose name starts with prefix.
	Channels(ctx context.Context, appID, prefix string) (map[string]ChannelInfo, error)
	// Members returns the distinct users of a presence channel, in the order they joined.
	Members(ctx context.Context, appID, channel string) ([]Member, error)
}

// MemberChange is a presence member event that a repair of a shared Occupancy makes: the
// reap of a dead node removes members, and a node writing its state back adds or removes
// them. The clients on the channel must be told, on every node.
type MemberChange struct {
	AppID   string
	Channel string
	// Member is the user; on a removal only UserID is set.
	Member Member
	// Added is true for member_added, false for member_removed.
	Added bool
}
