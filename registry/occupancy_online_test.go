package registry

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func mustSignIn(t *testing.T, o Occupancy, app, socket, user string, watchlist []string, wantOnline []string) Watched {
	t.Helper()
	w, err := o.SignIn(context.Background(), app, socket, user, watchlist)
	if err != nil || !slices.Equal(w.Online, wantOnline) {
		t.Fatalf("SignIn(%s, %s, %s, %q) = %q, %v; want online %q", app, socket, user, watchlist, w.Online, err, wantOnline)
	}
	return w
}

func mustSignOut(t *testing.T, o Occupancy, app, socket string) {
	t.Helper()
	if err := o.SignOut(context.Background(), app, socket); err != nil {
		t.Fatalf("SignOut(%s, %s): %v", app, socket, err)
	}
}

// A user is online while one of its sockets is signed in; a watchlist reads who is, in the
// watchlist's order, with the number of the app's last online event.
func TestOccupancySignIn(t *testing.T) {
	forEachOccupancy(t, func(t *testing.T, o Occupancy) {
		w0 := mustSignIn(t, o, "app", "s1", "7", []string{"9", "7", "11"}, []string{"7"})
		if w0.Seq == 0 {
			t.Errorf("Seq = 0 after user 7 came online")
		}
		mustSignIn(t, o, "app", "s2", "9", []string{"7", "9"}, []string{"7", "9"})
		mustSignIn(t, o, "other", "s3", "11", []string{"7", "9", "11"}, []string{"11"}) // apps apart
		again := mustSignIn(t, o, "app", "s2", "9", nil, nil)                           // the same signin: no event
		mustSignIn(t, o, "app", "s4", "9", nil, nil)
		if w := mustSignIn(t, o, "app", "s4", "9", nil, nil); w.Seq != again.Seq {
			t.Errorf("Seq moved from %d to %d without a change", again.Seq, w.Seq)
		}
		mustSignOut(t, o, "app", "s2")
		mustSignIn(t, o, "app", "x", "1", []string{"7", "9"}, []string{"7", "9"}) // s4 keeps 9 online
		// s1 signs in as another user: 7 goes offline.
		mustSignIn(t, o, "app", "s1", "12", []string{"7", "9", "12"}, []string{"9", "12"})
		mustSignOut(t, o, "app", "s4")
		mustSignOut(t, o, "app", "s4") // unknown now
		mustSignOut(t, o, "app", "never")
		w := mustSignIn(t, o, "app", "x", "1", []string{"7", "9", "12", "1"}, []string{"12", "1"})
		if w.Seq <= w0.Seq {
			t.Errorf("Seq %d after more events, first %d", w.Seq, w0.Seq)
		}
		// Reading changes nothing and tells the same.
		read, err := o.(OnlineReader).Watched(context.Background(), "app", []string{"7", "9", "12", "1"})
		if err != nil || !slices.Equal(read.Online, w.Online) || read.Seq != w.Seq {
			t.Errorf("Watched = %+v, %v; want %+v", read, err, w)
		}
	})
}

// onlineLog records online events as "+app user" and "-app user", in order, with their numbers.
type onlineLog struct {
	mu     sync.Mutex
	events []string
	seqs   map[string][]uint64 // by app
}

func newOnlineLog() *onlineLog { return &onlineLog{seqs: map[string][]uint64{}} }

func (l *onlineLog) add(ev OnlineEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sign := "-"
	if ev.Online {
		sign = "+"
	}
	l.events = append(l.events, sign+ev.AppID+" "+ev.UserID)
	l.seqs[ev.AppID] = append(l.seqs[ev.AppID], ev.Seq)
}

func (l *onlineLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// checkSeqs fails unless each app's numbers follow each other.
func (l *onlineLog) checkSeqs(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for app, seqs := range l.seqs {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				t.Errorf("online event numbers of %s: %v", app, seqs)
				break
			}
		}
	}
}

// watchOnline logs the online and offline messages of a relay channel until the test ends.
func watchOnline(t *testing.T, rdb *redis.Client, relay string) *onlineLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ps := rdb.Subscribe(ctx, relay)
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	l := newOnlineLog()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ps.Channel() {
			var msg struct {
				Kind   string `json:"k"`
				AppID  string `json:"a"`
				UserID string `json:"u"`
				Seq    uint64 `json:"s"`
			}
			if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil {
				t.Errorf("relay message %q: %v", m.Payload, err)
				continue
			}
			if msg.Kind == "online" || msg.Kind == "offline" {
				l.add(OnlineEvent{AppID: msg.AppID, UserID: msg.UserID, Online: msg.Kind == "online", Seq: msg.Seq})
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = ps.Close()
		<-done
	})
	return l
}

// A MemoryOccupancy tells each online and offline once, numbered in the app's order.
func TestMemoryOccupancyNotifiesOnline(t *testing.T) {
	o := NewMemoryOccupancy()
	log := newOnlineLog()
	o.NotifyOnline(log.add)
	mustSignIn(t, o, "app", "s1", "7", nil, nil)
	mustSignIn(t, o, "app", "s2", "7", nil, nil)
	mustSignOut(t, o, "app", "s1")
	mustSignIn(t, o, "app", "s3", "9", nil, nil)
	mustSignOut(t, o, "app", "s2")
	mustSignIn(t, o, "app", "s3", "11", nil, nil) // s3 was 9
	want := []string{"+app 7", "+app 9", "-app 7", "-app 9", "+app 11"}
	if got := log.snapshot(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	log.checkSeqs(t)
}

// Two nodes on one prefix: a user signed in on both comes online once and goes offline once,
// when its last signin is gone; a dead node's users go offline when it is reaped, those still
// signed in elsewhere stay online; a node writes its signins back when Redis lost them, and a
// node leaving takes its users offline.
func TestRedisOccupancyOnlineTwoNodes(t *testing.T) {
	nodes, rdb, prefix := redisNodes(t, 2, 300*time.Millisecond)
	a, b, ctx := nodes[0], nodes[1], context.Background()
	events := watchOnline(t, rdb, a.relay)
	wait := func(what string, want ...string) {
		t.Helper()
		waitFor(t, what, func() bool { return len(events.snapshot()) >= len(want) })
		if got := events.snapshot(); !slices.Equal(got, want) {
			t.Fatalf("after %s: events %q, want %q", what, got, want)
		}
	}
	runNode(t, a, nil)
	stopB := runNode(t, b, nil)

	mustSignIn(t, a, "app", "a.1", "7", nil, nil)
	mustSignIn(t, b, "app", "b.1", "7", []string{"7"}, []string{"7"})
	mustSignOut(t, a, "app", "a.1")
	wait("7 on both nodes", "+app 7")
	mustSignOut(t, b, "app", "b.1")
	wait("7 signed out on both", "+app 7", "-app 7")

	mustSignIn(t, a, "app", "a.2", "7", nil, nil)
	mustSignIn(t, b, "app", "b.2", "7", nil, nil)
	mustSignIn(t, b, "app", "b.3", "9", nil, nil)
	mustSignIn(t, b, "app", "b.4", "9", nil, nil)
	wait("7 and 9", "+app 7", "-app 7", "+app 7", "+app 9")
	stopB() // b dies; a reaps it
	wait("b's reap", "+app 7", "-app 7", "+app 7", "+app 9", "-app 9")
	waitFor(t, "b to leave the node list", func() bool {
		n, err := rdb.SIsMember(ctx, prefix+":nodes", b.node).Result()
		return err == nil && !n
	})
	mustSignIn(t, a, "app", "a.3", "1", []string{"7", "9"}, []string{"7"})

	// Redis loses the signins; a writes them back, and 7 and 1 are told online again.
	if err := rdb.Del(ctx, a.appKey("app")+":signins", a.appKey("app")+":online", a.nodeKey("state")).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the write-back", func() bool { return len(events.snapshot()) == 8 })
	got := events.snapshot()
	if back := got[6:]; !slices.Contains(back, "+app 7") || !slices.Contains(back, "+app 1") {
		t.Errorf("events of the write-back %q, want 7 and 1 online", back)
	}
	mustSignIn(t, b, "app", "x", "2", []string{"7", "1", "9"}, []string{"7", "1"})
	mustSignOut(t, b, "app", "x")
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's leave", func() bool { return len(events.snapshot()) == 12 })
	if left := events.snapshot()[10:]; !slices.Contains(left, "-app 7") || !slices.Contains(left, "-app 1") {
		t.Errorf("events of the leave %q, want 7 and 1 offline", left)
	}
	events.checkSeqs(t)
	if n, _ := rdb.HLen(ctx, a.appKey("app")+":online").Result(); n != 0 {
		t.Errorf("%d users left online", n)
	}
}
