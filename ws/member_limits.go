package ws

import (
	"log/slog"
	"strconv"
	"unicode/utf8"

	"github.com/reverbd/reverbd/registry"
	"github.com/reverbd/reverbd/registry/metrics"
)

// statusLimitReached is the status of a presence channel's LimitReached
// pusher:subscription_error (too many members, a user_id too long, a user_info too big):
// soketi's {"type":"LimitReached","error":…,"status":4100}, a code of the 4100–4199 range
// that pusher-js's close codes read as "try again after backing off".
const statusLimitReached = 4100

// memberWithinLimits checks a presence member against its app's max_user_id_length
// (characters of user_id) and max_presence_member_size (bytes of the user_info JSON), Pusher's
// presence limits (https://pusher.com/docs/channels/using_channels/presence-channels/). A
// member past either is refused with a channel-scoped pusher:subscription_error; the
// connection stays open.
func (c *Conn) memberWithinLimits(channel string, m *registry.Member) bool {
	app := c.App()
	if limit := app.MaxUserIDLength; limit > 0 && utf8.RuneCountInString(m.UserID) > limit {
		c.logClient(slog.LevelInfo, "subscribe refused: max_user_id_length", "channel", channel, "max", limit)
		c.stats.LimitHit(metrics.LimitMaxUserIDLength)
		c.Send(subscriptionErrorFrame(channel, "LimitReached",
			"The user_id of a presence member may have at most "+strconv.Itoa(limit)+" characters", statusLimitReached))
		return false
	}
	if limit := app.MaxPresenceMemberSize; limit > 0 && len(m.Info) > limit {
		c.logClient(slog.LevelInfo, "subscribe refused: max_presence_member_size", "channel", channel, "max", limit, "size", len(m.Info))
		c.stats.LimitHit(metrics.LimitMaxPresenceMemberSize)
		c.Send(subscriptionErrorFrame(channel, "LimitReached",
			"The user_info of a presence member may take at most "+strconv.Itoa(limit)+" bytes", statusLimitReached))
		return false
	}
	return true
}
