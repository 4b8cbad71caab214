package ws

import "github.com/reverbd/reverbd/registry"

// subscription is one channel a connection is subscribed to.
type subscription struct {
	channel string
	member  *registry.Member // the presence member; nil on other channels
}

// subscriptions is a connection's channels. Connections hold one or a few, so a short
// slice costs far less memory than a map and is as fast to search.
type subscriptions []subscription

// find returns the subscription to channel, or nil.
func (s subscriptions) find(channel string) *subscription {
	for i := range s {
		if s[i].channel == channel {
			return &s[i]
		}
	}
	return nil
}

// remove drops the subscription to channel, reporting whether there was one.
func (s *subscriptions) remove(channel string) bool {
	for i := range *s {
		if (*s)[i].channel == channel {
			last := len(*s) - 1
			(*s)[i] = (*s)[last]
			(*s)[last] = subscription{}
			*s = (*s)[:last]
			return true
		}
	}
	return false
}
