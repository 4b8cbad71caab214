package ws

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// hubConn is a subscriber whose frames are kept, and the steps it must see.
type hubConn struct {
	c    *Conn
	out  *captureConn
	want []string
}

// A channel's subscriber list through growth past smallChannel, shrinking below half of it
// and growing again, with removals in random order: after each change every subscriber (and
// no one else) gets each published frame once, in order, the one named by except excluded,
// and the list and its index agree.
func TestHubSubscribersAroundSmallChannel(t *testing.T) {
	for _, peak := range []int{1, 2, smallChannel - 1, smallChannel, smallChannel + 1, 2*smallChannel + 3} {
		t.Run(fmt.Sprintf("peak %d", peak), func(t *testing.T) {
			s := raceServer(t, Params{})
			rng := rand.New(rand.NewPCG(uint64(peak), 7))
			var all []*hubConn
			for range peak + 2 {
				c, out := capturedConn(s)
				all = append(all, &hubConn{c: c, out: out})
			}
			in := map[*hubConn]bool{}
			step := 0
			check := func(what string) {
				t.Helper()
				step++
				checkSubscribers(t, s.hub, what)
				if n := s.hub.subscriptions(); n != len(in) {
					t.Fatalf("%s: the hub counts %d subscriptions", what, n)
				}
				var except string
				if len(in) > 0 && step%2 == 0 {
					for hc := range in { // a random subscriber is left out
						except = hc.c.id
						break
					}
				}
				data := fmt.Sprintf(`{"step":%d}`, step)
				s.hub.publish("1", "ch", except, func() []byte { return eventFrame("e", "ch", data) })
				for hc := range in {
					if hc.c.id != except {
						hc.want = append(hc.want, "e:"+data)
					}
				}
			}
			add := func(hc *hubConn) {
				t.Helper()
				if !s.hub.add("1", "ch", hc.c) {
					t.Fatalf("add reported %s already subscribed", hc.c.id)
				}
				if s.hub.add("1", "ch", hc.c) {
					t.Fatalf("second add of %s reported new", hc.c.id)
				}
				in[hc] = true
				check(fmt.Sprintf("after adding one, %d subscribers", len(in)))
			}
			remove := func() {
				t.Helper()
				var members []*hubConn
				for hc := range in {
					members = append(members, hc)
				}
				slices.SortFunc(members, func(a, b *hubConn) int { return cmp.Compare(a.c.id, b.c.id) })
				hc := members[rng.IntN(len(members))]
				s.hub.remove("1", "ch", hc.c)
				s.hub.remove("1", "ch", hc.c) // a second removal changes nothing
				delete(in, hc)
				check(fmt.Sprintf("after removing one, %d subscribers", len(in)))
			}
			for _, hc := range all[:peak] {
				add(hc)
			}
			for len(in) > peak/3 {
				remove()
			}
			for _, hc := range all {
				if !in[hc] {
					add(hc)
				}
			}
			for len(in) > 0 {
				remove()
			}
			s.writers.waitIdle()
			s.wg.Wait()
			for i, hc := range all {
				got := hc.out.events(t)
				if !slices.Equal(got, hc.want) {
					t.Errorf("subscriber %d got %q, want %q", i, got, hc.want)
				}
			}
		})
	}
}

// checkSubscribers checks that the subscriber list of "ch" holds each connection once, and
// that it has an index exactly when it is big, which agrees with the list.
func checkSubscribers(t *testing.T, h *Hub, what string) {
	t.Helper()
	k := channelKey{"1", "ch"}
	sh := h.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	subs := sh.channels[k]
	if subs == nil {
		return
	}
	if len(subs.conns) == 0 {
		t.Fatalf("%s: an empty channel is kept", what)
	}
	if len(subs.conns) > smallChannel && subs.index == nil {
		t.Fatalf("%s: %d subscribers and no index", what, len(subs.conns))
	}
	if len(subs.conns) <= smallChannel/2 && subs.index != nil {
		t.Fatalf("%s: %d subscribers and an index", what, len(subs.conns))
	}
	seen := map[*Conn]bool{}
	for i, c := range subs.conns {
		if seen[c] {
			t.Fatalf("%s: %s listed twice", what, c.id)
		}
		seen[c] = true
		if subs.index != nil && subs.index[c] != i {
			t.Fatalf("%s: index of %s is %d, its place %d", what, c.id, subs.index[c], i)
		}
		if subs.find(c) != i {
			t.Fatalf("%s: find(%s) = %d, its place %d", what, c.id, subs.find(c), i)
		}
	}
	if subs.index != nil && len(subs.index) != len(subs.conns) {
		t.Fatalf("%s: index of %d for %d subscribers", what, len(subs.index), len(subs.conns))
	}
}

// Presence user ids stay with their connection when removals move others in the list.
func TestHubPresenceUsersAcrossRemovals(t *testing.T) {
	s := raceServer(t, Params{})
	app := s.apps.All()[0]
	n := smallChannel + 5
	conns := make([]*Conn, n)
	for i := range conns {
		c := &Conn{srv: s, nc: &captureConn{}, fd: -1}
		c.app.Store(app)
		c.id = s.conns.add(c)
		conns[i] = c
		s.hub.join("1", "presence-room", c, fmt.Sprint("user-", i%(n-2)), []byte("x"), false)
	}
	// Users 0 and 1 have two connections each: (0, n-2) and (1, n-1).
	for _, i := range []int{0, n - 1, 5, n - 2} {
		want := fmt.Sprint("user-", i%(n-2))
		if got := s.hub.leave("1", "presence-room", conns[i]); got != want {
			t.Errorf("leave of connection %d returned user %q, want %q", i, got, want)
		}
		if got := s.hub.leave("1", "presence-room", conns[i]); got != "" {
			t.Errorf("second leave of connection %d returned user %q", i, got)
		}
	}
	for u, want := range map[string]bool{"user-0": false, "user-1": true, "user-5": false, "user-6": true} {
		if got := s.hub.hasUser("1", "presence-room", u); got != want {
			t.Errorf("hasUser(%s) = %v, want %v", u, got, want)
		}
	}
	if got := s.hub.subscriptions(); got != n-4 {
		t.Errorf("the hub counts %d subscriptions, want %d", got, n-4)
	}
	s.writers.waitIdle()
	s.wg.Wait()
}
