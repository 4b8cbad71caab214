package api

import (
	"strings"

	"github.com/reverbd/reverbd/registry"
)

// info is the parsed info query parameter or body field: a comma list of attributes.
// Unknown attributes are ignored (as Reverb does).
type info struct {
	requested         bool // the list was present and non-empty
	userCount         bool // presence channels only
	subscriptionCount bool
	cache             bool // cache channels only, GET /channels/{name}
}

func parseInfo(s string) info {
	inf := info{requested: strings.TrimSpace(s) != ""}
	for attr := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(attr) {
		case "user_count":
			inf.userCount = true
		case "subscription_count":
			inf.subscriptionCount = true
		case "cache":
			inf.cache = true
		}
	}
	return inf
}

// channelCounts is the per-channel object of the events, batch_events and channels answers:
// only the requested attributes that apply to the channel.
type channelCounts struct {
	UserCount         *int `json:"user_count,omitempty"`
	SubscriptionCount *int `json:"subscription_count,omitempty"`
}

// countsFor picks the requested attributes of ci that apply to channel: user_count only on
// presence channels, subscription_count on every channel.
func countsFor(channel string, ci registry.ChannelInfo, inf info) channelCounts {
	var c channelCounts
	if inf.userCount && registry.KindOf(channel).IsPresence() {
		c.UserCount = &ci.UserCount
	}
	if inf.subscriptionCount {
		c.SubscriptionCount = &ci.SubscriptionCount
	}
	return c
}
