package ws

import (
	"slices"
	"strings"

	"github.com/reverbd/reverbd/config/catalogue"
	"github.com/reverbd/reverbd/registry"
)

// subscription is one channel a connection is subscribed to.
type subscription struct {
	channel string
	member  *registry.Member // the presence member; nil on other channels
	// entry is the catalogue entry the channel matched when the app's catalogue was
	// enforced; nil otherwise.
	entry *catalogue.Entry
}

// subscriptions is a connection's channels, sorted by name. Most connections hold one to
// three, and a sorted slice costs no more memory than that while a lookup stays
// logarithmic for a connection holding up to max_subscriptions.
type subscriptions []subscription

func (s subscriptions) search(channel string) (int, bool) {
	return slices.BinarySearchFunc(s, channel, func(sub subscription, ch string) int {
		return strings.Compare(sub.channel, ch)
	})
}

// find returns the subscription to channel, or nil.
func (s subscriptions) find(channel string) *subscription {
	if i, ok := s.search(channel); ok {
		return &s[i]
	}
	return nil
}

// add records sub, which must not be there yet.
func (s *subscriptions) add(sub subscription) {
	i, _ := s.search(sub.channel)
	*s = slices.Insert(*s, i, sub)
}

// remove drops the subscription to channel and returns it, reporting whether there was one.
func (s *subscriptions) remove(channel string) (subscription, bool) {
	i, ok := s.search(channel)
	if !ok {
		return subscription{}, false
	}
	sub := (*s)[i]
	*s = slices.Delete(*s, i, i+1) // clears the freed element
	return sub, true
}

// ofEntry counts the subscriptions whose channel matched entry.
func (s subscriptions) ofEntry(entry *catalogue.Entry) int {
	n := 0
	for i := range s {
		if s[i].entry == entry {
			n++
		}
	}
	return n
}
