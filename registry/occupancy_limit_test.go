package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestOccupancyPresenceLimit(t *testing.T) {
	forEachOccupancy(t, func(t *testing.T, o Occupancy) {
		ctx := context.Background()
		const ch = "presence-room"
		for i, user := range []string{"1", "2"} {
			if sub, err := o.Subscribe(ctx, "app", ch, fmt.Sprint(i), member(user), 2); err != nil || !sub.First {
				t.Fatalf("user %s: first=%v err=%v", user, sub.First, err)
			}
		}
		// A third user is refused and nothing is recorded for it.
		if _, err := o.Subscribe(ctx, "app", ch, "9", member("3"), 2); !errors.Is(err, ErrPresenceFull) {
			t.Fatalf("third user: %v, want ErrPresenceFull", err)
		}
		if info, _ := o.Channel(ctx, "app", ch); info != (ChannelInfo{SubscriptionCount: 2, UserCount: 2}) {
			t.Errorf("after the refusal: %+v", info)
		}
		if _, last, _ := o.Unsubscribe(ctx, "app", ch, "9"); last {
			t.Error("the refused socket was recorded")
		}
		// Another socket of a user already present still joins, and so does any socket
		// already subscribed (idempotent), and any socket without a limit.
		mustSubscribeLimit(t, o, ch, "1b", member("1"), 2, false)
		mustSubscribeLimit(t, o, ch, "0", member("1"), 1, false)
		mustSubscribeLimit(t, o, ch, "8", member("4"), 0, true)
		// A public channel never counts users.
		mustSubscribeLimit(t, o, "orders", "9", nil, 1, false)
		mustSubscribeLimit(t, o, "orders", "10", nil, 1, false)
		// Once a user leaves, a new one fits.
		mustUnsubscribe(t, o, "app", ch, "8", "4", true)
		mustUnsubscribe(t, o, "app", ch, "1", "2", true)
		mustSubscribeLimit(t, o, ch, "9", member("3"), 2, true)
		if p, _ := o.Members(ctx, "app", ch); len(p.Members) != 2 || p.Members[0].UserID != "1" || p.Members[1].UserID != "3" {
			t.Errorf("members = %+v, want users 1 and 3", p.Members)
		}
	})
}

// Two nodes racing to fill a presence channel never pass the limit together: the check and
// the write are one script.
func TestRedisOccupancyPresenceLimitAcrossNodes(t *testing.T) {
	nodes, _, _ := redisNodes(t, 2, 0)
	ctx := context.Background()
	const (
		ch    = "presence-crowd"
		limit = 7
		users = 40
	)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		joined  = map[string]bool{}
		refused int
	)
	for i := range users {
		wg.Go(func() {
			user := fmt.Sprint("user-", i)
			sub, err := nodes[i%2].Subscribe(ctx, "app", ch, fmt.Sprint("s.", i), member(user), limit)
			first := sub.First
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrPresenceFull):
				refused++
			case err != nil:
				t.Error(err)
			case !first:
				t.Errorf("%s joined but was not first", user)
			default:
				joined[user] = true
			}
		})
	}
	wg.Wait()
	if len(joined) != limit || refused != users-limit {
		t.Errorf("joined %d, refused %d; want %d and %d", len(joined), refused, limit, users-limit)
	}
	p, err := nodes[0].Members(ctx, "app", ch)
	members := p.Members
	if err != nil || len(members) != limit {
		t.Fatalf("members = %d, %v; want %d", len(members), err, limit)
	}
	for _, m := range members {
		if !joined[m.UserID] {
			t.Errorf("member %s was refused", m.UserID)
		}
	}
	// A joined user's second socket, on the other node, still gets in.
	mustSubscribeLimit(t, nodes[1], ch, "s.extra", member(members[0].UserID), limit, false)
}

// member returns a presence member with the user id id.
func member(id string) *Member { return &Member{UserID: id, RawID: json.RawMessage(`"` + id + `"`)} }

func mustSubscribeLimit(t *testing.T, o Occupancy, channel, socket string, m *Member, maxMembers int, want bool) {
	t.Helper()
	sub, err := o.Subscribe(context.Background(), "app", channel, socket, m, maxMembers)
	first := sub.First
	if err != nil || first != want {
		t.Fatalf("Subscribe(%s, %s, max %d) = %v, %v; want first=%v", channel, socket, maxMembers, first, err, want)
	}
}
