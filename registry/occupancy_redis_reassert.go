package registry

import (
	"context"
	"fmt"
)

var reassertScript = occupancyScript("reassert")

var _ Reasserter = (*RedisOccupancy)(nil)

// ReassertNode implements Reasserter: in one atomic step the store comes to hold exactly conns
// for this node. Subscriptions it already holds stay untouched, so members keep their join
// order; others' state is only changed where this node's stale entries are removed.
func (o *RedisOccupancy) ReassertNode(ctx context.Context, conns []NodeConn) error {
	perApp := map[string]int{}
	var subs []any
	for _, c := range conns {
		perApp[c.AppID]++
		for _, s := range c.Subscriptions {
			if s.Member == nil {
				subs = append(subs, c.AppID, s.Channel, c.SocketID, "", "", "")
				continue
			}
			b, err := encodeMember(*s.Member)
			if err != nil {
				return err
			}
			subs = append(subs, c.AppID, s.Channel, c.SocketID, "1", s.Member.UserID, b)
		}
	}
	args := []any{o.node, o.ttlMillis(), len(perApp)}
	for app, n := range perApp {
		args = append(args, app, n)
	}
	if err := o.run(ctx, reassertScript, append(args, subs...)...).Err(); err != nil {
		return fmt.Errorf("registry: reassert node %s: %w", o.node, err)
	}
	return nil
}
