package netpoll

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// socketPair returns both ends of a non-blocking Unix stream socket pair, closed with the test.
func socketPair(t *testing.T) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// mark is the event data the test's own registrations carry; the poller's carry the fd.
const mark = 1 << 30

// reuseNumber puts a new epoll instance under the closed poller's number, as the next
// opened file may get it, and registers fd there with mark as its data.
func reuseNumber(t *testing.T, number, fd int) {
	t.Helper()
	other, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if other != number { // the lowest free number is usually the closed one already
		if err := unix.Dup3(other, number, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Close(other)
	}
	t.Cleanup(func() { unix.Close(number) })
	if err := unix.EpollCtl(number, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: mark}); err != nil {
		t.Fatal(err)
	}
}

// onlyMarked checks that the epoll instance at number reports exactly the test's own
// registration, unchanged: none of the closed poller's calls reached it.
func onlyMarked(t *testing.T, number int) {
	t.Helper()
	events := make([]unix.EpollEvent, 8)
	n, err := unix.EpollWait(number, events, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || events[0].Fd != mark {
		t.Errorf("the new file got %d events %v: the closed poller changed its registrations", n, events[:n])
	}
}

func TestClosedPollerLeavesReusedNumberAlone(t *testing.T) {
	p, err := New[int]()
	if err != nil {
		t.Fatal(err)
	}
	a, aPeer := socketPair(t)
	if err := p.Add(a, 1); err != nil {
		t.Fatal(err)
	}
	number := p.epfd
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	reuseNumber(t, number, a)

	if err := p.Rearm(a, 1); err != nil {
		t.Errorf("Rearm after Close = %v, want nil (nothing to do)", err)
	}
	p.Remove(a, 1)
	b, bPeer := socketPair(t)
	if err := p.Add(b, 2); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close = %v, want ErrClosed", err)
	}
	p.wake()
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // were Run to wait, it would wait on the new file
	if err := p.Run(ctx, func(int) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}

	for _, peer := range []int{aPeer, bPeer} {
		if _, err := unix.Write(peer, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	onlyMarked(t, number)
}

// Readers and releases keep calling Rearm and Remove while the poller closes: none of the
// calls that come after Close reach the file that takes its number.
func TestCloseRacingRemove(t *testing.T) {
	p, err := New[int]()
	if err != nil {
		t.Fatal(err)
	}
	fds, peers := make([]int, 64), make([]int, 64)
	for i := range fds {
		fds[i], peers[i] = socketPair(t)
		if err := p.Add(fds[i], i); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for !stop.Load() {
				for i := w; i < len(fds); i += 4 {
					_ = p.Rearm(fds[i], i)
				}
			}
		})
	}
	wg.Go(func() {
		for i := len(fds) - 1; i > 0; i-- {
			p.Remove(fds[i], i)
		}
	})
	number := p.epfd
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	target := fds[0]
	reuseNumber(t, number, target)
	for range 1000 { // the callers go on after Close
		_ = p.Rearm(target, 0)
	}
	p.Remove(target, 0)
	stop.Store(true)
	wg.Wait()

	if _, err := unix.Write(peers[0], []byte{1}); err != nil {
		t.Fatal(err)
	}
	onlyMarked(t, number)
}

// An event read for a socket that is then removed, closed and replaced by a new socket with
// the same number is not handed to the new socket's owner, which has nothing to read.
func TestStaleEventNotHandedToNewOwner(t *testing.T) {
	p, err := New[int]()
	if err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	old, oldPeer := fds[0], fds[1]
	defer unix.Close(oldPeer)
	if err := p.Add(old, 1); err != nil {
		t.Fatal(err)
	}
	other, otherPeer := socketPair(t)
	if err := p.Add(other, 3); err != nil {
		t.Fatal(err)
	}

	ready := make(chan int, 8)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, func(owner int) { ready <- owner }) }()
	poke := func() {
		t.Helper()
		if _, err := unix.Write(otherPeer, []byte{1}); err != nil {
			t.Fatal(err)
		}
		if owner := <-ready; owner != 3 {
			t.Fatalf("ready(%d), want 3", owner)
		}
		if _, err := unix.Read(other, make([]byte, 8)); err != nil {
			t.Fatal(err)
		}
		if err := p.Rearm(other, 3); err != nil {
			t.Fatal(err)
		}
	}
	poke() // Run is waiting for events
	sh := p.shard(old)
	sh.mu.Lock() // Run reads the event, then waits here to look up its owner
	if _, err := unix.Write(oldPeer, []byte{1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	// Meanwhile the socket is removed and closed, and a new socket gets its number.
	p.remove(sh, old, 1)
	unix.Close(old)
	fresh, freshPeer := socketPair(t) // the lowest free numbers: the old one among them
	if freshPeer == old {
		fresh = freshPeer
	}
	if fresh != old {
		sh.mu.Unlock()
		t.Fatalf("number %d not taken by the new socket (%d)", old, fresh)
	}
	if err := p.add(sh, fresh, 2); err != nil {
		sh.mu.Unlock()
		t.Fatal(err)
	}
	sh.mu.Unlock()

	// A later event shows that Run has dealt with the stale one.
	if _, err := unix.Write(otherPeer, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if owner := <-ready; owner != 3 {
		t.Errorf("ready(%d) before the later event: the new socket's owner got the old socket's event", owner)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p.Close()
}
