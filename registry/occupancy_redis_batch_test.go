package registry

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reverbd/reverbd/registry/redistest"
)

// stormCalls makes the calls of client i of a small reconnect storm on o: Connect, then
// private-tenant.{t}, private-user.{i} and presence-tenant.{t} as user i%60, t = i%10. It
// counts the subscribes that were reported first.
func stormCalls(ctx context.Context, o *RedisOccupancy, i int, firsts *atomic.Int64) error {
	id, t, user := strconv.Itoa(i), strconv.Itoa(i%10), strconv.Itoa(i%60)
	socket := id + "." + id
	if err := o.Connect(ctx, "app", socket, 0); err != nil {
		return err
	}
	m := &Member{UserID: user, RawID: json.RawMessage(user), Info: json.RawMessage(`{"name":"User ` + user + `"}`)}
	for _, s := range []struct {
		channel string
		member  *Member
	}{{"private-tenant." + t, nil}, {"private-user." + id, nil}, {"presence-tenant." + t, m}} {
		sub, err := o.Subscribe(ctx, "app", s.channel, socket, s.member, 0)
		if err != nil {
			return err
		}
		if sub.First {
			firsts.Add(1)
		}
	}
	return nil
}

// Calls made at the same time go out as pipelines and leave Redis as the same calls made one
// after the other do: the same connections, channels, counts and members, each channel's
// first subscribes reported alike, and the quota decided as before. The Redis is a fresh one, so
// the first pipelines find no script loaded (NOSCRIPT) and load them.
func TestRedisOccupancyGroupCommitSameState(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := srv.Client()
	ctx := context.Background()
	const clients = 300
	seq := NewRedisOccupancy(RedisOccupancyParams{Redis: rdb, Prefix: "seq", Relay: "seq:relay", NodeID: "n"})
	con := NewRedisOccupancy(RedisOccupancyParams{Redis: rdb, Prefix: "con", Relay: "con:relay", NodeID: "n"})
	var seqFirsts, conFirsts atomic.Int64
	for i := range clients {
		if err := stormCalls(ctx, seq, i, &seqFirsts); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	start := make(chan struct{})
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			<-start
			errs <- stormCalls(ctx, con, i, &conFirsts)
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := con.calls.grouped.Load(); n == 0 {
		t.Fatal("no call went out in a pipeline with others")
	} else {
		t.Logf("%d of %d calls went out in pipelines with others", n, 4*clients)
	}
	if got, want := readState(t, con, "app"), readState(t, seq, "app"); !reflect.DeepEqual(got, want) {
		t.Errorf("concurrent calls left %+v\nsequential ones %+v", got, want)
	}
	if got, want := conFirsts.Load(), seqFirsts.Load(); got != want || want == 0 {
		t.Errorf("subscribes reported first: %d concurrent, %d sequential", got, want)
	}
	if con.book.isDirty() {
		t.Error("the node's record is dirty after calls that all succeeded")
	}

	// The quota: 40 more connections at once where 10 fit.
	var ok, over atomic.Int64
	for i := range 40 {
		wg.Go(func() {
			switch err := con.Connect(ctx, "app", "q."+strconv.Itoa(i), clients+10); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrOverQuota):
				over.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 || over.Load() != 30 {
		t.Errorf("quota: %d connected, %d refused; want 10 and 30", ok.Load(), over.Load())
	}
}

// batcherState is what b holds: the calls queued and the pipelines in flight.
func (b *scriptBatcher) batcherState() (queued, inflight int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue), b.inflight
}

func waitBatcher(t *testing.T, b *scriptBatcher, queued, inflight int) {
	t.Helper()
	waitFor(t, "batcher state", func() bool {
		q, f := b.batcherState()
		return q == queued && f == inflight
	})
}

// A caller whose context ends stops waiting while Redis has not answered: one whose call
// was still queued learns it was never sent and its node stays clean; one whose call was in
// flight gets the context's error, its call runs all the same, the node's record is marked
// dirty, and the write-back removes what the call left.
func TestRedisOccupancyGroupCommitCancelled(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb, pauser := srv.Client(), srv.Client()
	ctx := context.Background()
	o := NewRedisOccupancy(RedisOccupancyParams{Redis: rdb, Prefix: "p", NodeID: "n"})
	mustConnect(t, o, "warm") // loads the script
	if err := pauser.Do(ctx, "CLIENT", "PAUSE", 1500, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	aDone := make(chan error, 1)
	go func() { aDone <- o.Connect(ctx, "app", "a", 0) }() // alone, in flight
	waitBatcher(t, o.calls, 0, 1)
	bCtx, cancelB := context.WithCancel(ctx)
	bDone := make(chan error, 1)
	go func() { bDone <- o.Connect(bCtx, "app", "b", 0) }() // a pipeline of its own, in flight
	waitBatcher(t, o.calls, 0, 2)
	cCtx, cancelC := context.WithCancel(ctx)
	cDone := make(chan error, 1)
	go func() { cDone <- o.Connect(cCtx, "app", "c", 0) }() // queued: two pipelines are in flight
	waitBatcher(t, o.calls, 1, 2)

	cancelC()
	if err := <-cDone; !errors.Is(err, errNotSent) || !errors.Is(err, context.Canceled) {
		t.Errorf("queued call cancelled: %v, want not sent, cancelled", err)
	}
	if o.book.isDirty() {
		t.Error("a call never sent made the node's record dirty")
	}
	cancelB()
	if err := <-bDone; errors.Is(err, errNotSent) || !errors.Is(err, context.Canceled) {
		t.Errorf("call in flight cancelled: %v, want cancelled, maybe sent", err)
	}
	select {
	case err := <-aDone:
		t.Fatalf("the call of a returned (%v) before Redis answered: the cancelled ones did not return at once", err)
	default:
	}
	if !o.book.isDirty() {
		t.Error("a call that may have run unseen left the node's record clean")
	}
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	waitBatcher(t, o.calls, 0, 0)
	// b's call ran; c's never did.
	if st := readState(t, o, "app"); st.Connections != 3 {
		t.Errorf("Redis holds %d connections, want warm, a and b", st.Connections)
	}
	if _, err := o.reassert(ctx); err != nil {
		t.Fatal(err)
	}
	if st := readState(t, o, "app"); st.Connections != 2 {
		t.Errorf("after the write-back Redis holds %d connections, want warm and a", st.Connections)
	}
	if !o.book.hasConn("app", "a") || o.book.hasConn("app", "b") || o.book.hasConn("app", "c") {
		t.Error("the node's record holds other connections than warm and a")
	}
}

// A call made with a context that has already ended is not sent.
func TestRedisOccupancyGroupCommitEndedContext(t *testing.T) {
	nodes, _, _ := redisNodes(t, 1, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if err := nodes[0].Connect(ctx, "app", "a", 0); !errors.Is(err, errNotSent) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Connect = %v, want not sent, deadline exceeded", err)
	}
}
