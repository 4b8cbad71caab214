// Package netpoll watches many sockets for readability with one epoll instance, so that an
// idle connection costs no goroutine. Each registration is level-triggered and one-shot: a
// readiness event hands the socket to exactly one handler, which must call Rearm once it has
// consumed what it wanted, so a socket is never read by two goroutines at once.
package netpoll

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

const armed = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// ErrClosed is returned by Add and Run once the Poller is closed.
var ErrClosed = errors.New("netpoll: poller closed")

// Poller dispatches readiness of registered sockets. It is safe for concurrent use.
type Poller[T comparable] struct {
	epfd   int
	wakefd int // eventfd that interrupts EpollWait when Close is called

	// mu guards closed. Every use of epfd and wakefd outside Run happens under it (read
	// locked) with closed unset: once Close has run, their numbers may belong to other files.
	mu     sync.RWMutex
	closed bool
	tags   atomic.Uint32 // the last tag given to a registration

	// shards hold the registrations by fd. The calls on one fd (Add, Rearm, Remove, and Run's
	// look-up of its events) are ordered by its shard's lock, held across their epoll_ctl, so
	// calls on different sockets rarely wait for each other.
	shards [shardCount]shard[T]
}

const shardCount = 64

type shard[T comparable] struct {
	mu  sync.Mutex
	fds map[int]registration[T] // registered fd → its owner
}

func (p *Poller[T]) shard(fd int) *shard[T] { return &p.shards[uint(fd)%shardCount] }

// registration is a registered fd's owner and the tag its events carry (in the event data
// next to the fd), so that an event read just before the fd was removed is not taken for
// one of a new socket that got the same number.
type registration[T comparable] struct {
	owner T
	tag   uint32
}

// New returns a Poller. Close releases it.
func New[T comparable]() (*Poller[T], error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("netpoll: watch eventfd: %w", err)
	}
	p := &Poller[T]{epfd: epfd, wakefd: wakefd}
	for i := range p.shards {
		p.shards[i].fds = map[int]registration[T]{}
	}
	return p, nil
}

// FD returns the file descriptor of conn without duplicating it (conn.File would dup it
// and switch the socket to blocking mode).
func FD(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, errors.New("netpoll: connection has no file descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// Add registers fd with its owner value and arms one readiness notification.
func (p *Poller[T]) Add(fd int, owner T) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	sh := p.shard(fd)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return p.add(sh, fd, owner)
}

// add is Add with p.mu read-locked and sh, fd's shard, locked.
func (p *Poller[T]) add(sh *shard[T], fd int, owner T) error {
	r := registration[T]{owner: owner, tag: p.tags.Add(1)}
	sh.fds[fd] = r
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, r.event(fd)); err != nil {
		delete(sh.fds, fd)
		return fmt.Errorf("netpoll: add: %w", err)
	}
	return nil
}

// Rearm arms the next readiness notification for fd, if fd is still registered to owner.
// The owner check makes a late Rearm harmless after the fd was removed and reused. After
// Close it does nothing: the socket stays open for its owner to close.
func (p *Poller[T]) Rearm(fd int, owner T) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil
	}
	sh := p.shard(fd)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, ok := sh.fds[fd]
	if !ok || r.owner != owner {
		return nil
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, r.event(fd)); err != nil {
		return fmt.Errorf("netpoll: rearm: %w", err)
	}
	return nil
}

// Remove unregisters fd if it is registered to owner. Call it before closing the socket,
// so that a new socket reusing the number is never mistaken for the old one. After Close it
// does nothing.
func (p *Poller[T]) Remove(fd int, owner T) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return
	}
	sh := p.shard(fd)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	p.remove(sh, fd, owner)
}

// remove is Remove with p.mu read-locked and sh, fd's shard, locked.
func (p *Poller[T]) remove(sh *shard[T], fd int, owner T) {
	if r, ok := sh.fds[fd]; !ok || r.owner != owner {
		return
	}
	delete(sh.fds, fd)
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil) // fails only if already gone
}

// Run waits for readiness and calls ready with the owner of each ready fd, from this
// goroutine; ready must hand off and return at once. Run returns when ctx ends. It must not
// run after Close, nor while it runs.
func (p *Poller[T]) Run(ctx context.Context, ready func(T)) error {
	p.mu.RLock()
	closed := p.closed
	p.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	stop := context.AfterFunc(ctx, p.wake)
	defer stop()
	events := make([]unix.EpollEvent, 256)
	batch := make([]T, 0, len(events))
	for ctx.Err() == nil {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("netpoll: wait: %w", err)
		}
		batch = batch[:0]
		for _, ev := range events[:n] {
			sh := p.shard(int(ev.Fd))
			sh.mu.Lock()
			if r, ok := sh.fds[int(ev.Fd)]; ok && uint32(ev.Pad) == r.tag {
				batch = append(batch, r.owner)
			}
			sh.mu.Unlock()
		}
		for _, owner := range batch {
			ready(owner)
		}
	}
	return nil
}

// event is the armed one-shot event of fd under r: its data holds fd and r's tag.
func (r registration[T]) event(fd int) *unix.EpollEvent {
	return &unix.EpollEvent{Events: armed, Fd: int32(fd), Pad: int32(r.tag)}
}

func (p *Poller[T]) wake() {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.closed {
		var one = [8]byte{1}
		_, _ = unix.Write(p.wakefd, one[:])
	}
}

// Close releases the epoll instance. Call it once Run has returned (or if it never ran);
// Add, Rearm and Remove may still be called, and leave the closed numbers alone.
func (p *Poller[T]) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	unix.Close(p.wakefd)
	return unix.Close(p.epfd)
}
