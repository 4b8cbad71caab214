package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// A node keeps its lease while it reaps a big dead node whose gone callbacks are slow (in a
// cluster each one publishes member_removed through Redis): renewal has a ticker of its own.
func TestRedisOccupancyRenewsWhileReaping(t *testing.T) {
	const ttl = 900 * time.Millisecond
	nodes, rdb, prefix := redisNodes(t, 2, ttl)
	live, dead, ctx := nodes[0], nodes[1], context.Background()
	const users = 20
	want := map[string]int{}
	for u := range users {
		id := fmt.Sprint(u)
		if _, err := dead.Subscribe(ctx, "app", "presence-room", "d."+id, &Member{UserID: id, RawID: json.RawMessage(id)}, 0); err != nil {
			t.Fatal(err)
		}
		want["app presence-room "+id] = 1
	}
	waitFor(t, "the dead node's lease to expire", func() bool {
		n, err := rdb.Exists(ctx, prefix+":lease:"+dead.node).Result()
		return err == nil && n == 0
	})

	live.batch = 2 // many small batches
	var gone goneLog
	reaping, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	runNode(t, live, func(changes []MemberChange) {
		once.Do(func() {
			close(reaping)
			<-release // the first member_removed hangs, as a publish to an unreachable Redis would
		})
		gone.announce(changes)
	})
	<-reaping
	// Three lease lifetimes with the reap stuck: the lease must never lapse.
	lease := prefix + ":lease:" + live.node
	for end := time.Now().Add(3 * ttl); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if n, err := rdb.Exists(ctx, lease).Result(); err != nil || n != 1 {
			close(release)
			t.Fatalf("the live node's lease lapsed while it was reaping (exists=%d, err=%v)", n, err)
		}
	}
	close(release)
	waitFor(t, "the dead node to be reaped", func() bool { return len(gone.snapshot()) == users })
	if got := gone.snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("gone calls = %v, want each of the %d users once", diff(got, want), users)
	}
}
