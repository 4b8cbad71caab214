package registry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// Subscription and user counts through a channel's growth past smallSet sockets, shrinking
// below half of it and growing again: a socket is counted once however often it subscribes,
// an unknown one unsubscribes without effect, and a presence user is counted while one of
// its sockets is subscribed, announced first when it joins and last when it leaves.
func TestOccupancyCountsAcrossSizes(t *testing.T) {
	for _, presence := range []bool{false, true} {
		channel := "private-orders"
		if presence {
			channel = "presence-room"
		}
		t.Run(channel, func(t *testing.T) {
			forEachOccupancy(t, func(t *testing.T, o Occupancy) {
				ctx := context.Background()
				rng := rand.New(rand.NewPCG(1, 2))
				const sockets = 3*smallSet + 1
				in := map[int]bool{}                       // subscribed sockets
				users := map[int]int{}                     // user → subscribed sockets
				userOf := func(i int) int { return i / 2 } // two sockets a user
				memberOf := func(i int) *Member {
					if !presence {
						return nil
					}
					return member(fmt.Sprint(userOf(i)))
				}
				socket := func(i int) string { return fmt.Sprintf("%d.%d", i, i) }
				check := func(what string) {
					t.Helper()
					want := ChannelInfo{SubscriptionCount: len(in)}
					if presence {
						want.UserCount = len(users)
					}
					if got, err := o.Channel(ctx, "app", channel); err != nil || got != want {
						t.Fatalf("%s: Channel = %+v, %v; want %+v", what, got, err, want)
					}
					all, err := o.Channels(ctx, "app", "")
					if err != nil || len(in) == 0 && len(all) != 0 || len(in) > 0 && (len(all) != 1 || all[channel] != want) {
						t.Fatalf("%s: Channels = %v, %v; want %+v", what, all, err, want)
					}
				}
				subscribe := func(i int) {
					t.Helper()
					first := presence && users[userOf(i)] == 0
					mustSubscribe(t, o, "app", channel, socket(i), memberOf(i), first)
					mustSubscribe(t, o, "app", channel, socket(i), memberOf(i), false) // again
					in[i] = true
					if presence {
						users[userOf(i)]++
					}
					check(fmt.Sprintf("socket %d subscribed, %d in", i, len(in)))
				}
				unsubscribe := func(i int) {
					t.Helper()
					user, last := "", false
					if presence {
						users[userOf(i)]--
						user, last = fmt.Sprint(userOf(i)), users[userOf(i)] == 0
						if last {
							delete(users, userOf(i))
						}
					}
					mustUnsubscribe(t, o, "app", channel, socket(i), user, last)
					mustUnsubscribe(t, o, "app", channel, socket(i), "", false) // again
					delete(in, i)
					check(fmt.Sprintf("socket %d unsubscribed, %d in", i, len(in)))
				}
				order := rng.Perm(sockets)
				for _, i := range order {
					subscribe(i)
				}
				for _, i := range rng.Perm(sockets)[:sockets-2] {
					unsubscribe(i)
				}
				for _, i := range order {
					if !in[i] {
						subscribe(i)
					}
				}
				for _, i := range rng.Perm(sockets) {
					unsubscribe(i)
				}
			})
		})
	}
}

// The memory set keeps a list while small and a map past smallSet, and agrees with itself
// through the changes between them.
func TestSocketSetRepresentation(t *testing.T) {
	var s socketSet
	want := map[string]string{}
	check := func(what string) {
		t.Helper()
		if s.len() != len(want) {
			t.Fatalf("%s: len %d, want %d", what, s.len(), len(want))
		}
		switch {
		case len(want) > smallSet && s.many == nil:
			t.Fatalf("%s: %d sockets in a list", what, len(want))
		case len(want) <= smallSet/2 && s.many != nil:
			t.Fatalf("%s: %d sockets in a map", what, len(want))
		case s.many != nil && s.few != nil:
			t.Fatalf("%s: both a list and a map", what)
		}
		for socket, user := range want {
			if got, ok := s.get(socket); !ok || got != user {
				t.Fatalf("%s: get(%s) = %q, %v; want %q", what, socket, got, ok, user)
			}
		}
		if _, ok := s.get("none"); ok {
			t.Fatalf("%s: an unknown socket is in the set", what)
		}
	}
	for i := range 3 * smallSet {
		socket, user := fmt.Sprint("s", i), fmt.Sprint("u", i%3)
		s.add(socket, user)
		want[socket] = user
		check(fmt.Sprintf("added %s", socket))
	}
	for i := range 3 * smallSet {
		socket := fmt.Sprint("s", (i*7)%(3*smallSet))
		if user, ok := s.remove(socket); !ok || user != want[socket] {
			t.Fatalf("remove(%s) = %q, %v; want %q", socket, user, ok, want[socket])
		}
		if _, ok := s.remove(socket); ok {
			t.Fatalf("%s removed twice", socket)
		}
		delete(want, socket)
		check(fmt.Sprintf("removed %s", socket))
	}
	if s.many != nil || len(s.few) != 0 {
		t.Errorf("an empty set holds %v, %v", s.few, s.many)
	}
}
