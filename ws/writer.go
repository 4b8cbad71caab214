package ws

import (
	"net"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writerBatch is how many connections a pool goroutine takes from the queue at a time.
const writerBatch = 128

// maxIovecs is the most buffers one writev takes (Linux IOV_MAX is 1024).
const maxIovecs = 1024

// writerPool writes queued frames for connections with non-blocking writev, on a fixed
// number of goroutines. A fan-out only marks connections dirty; the pool then writes each
// one's whole queue in one system call, so frames queued while a connection waits leave
// together. The pool is started by New and stopped by Shutdown.
type writerPool struct {
	mu    sync.Mutex
	cond  sync.Cond
	dirty []*Conn // guarded by mu; each Conn at most once (Conn.scheduled)
	head  int     // guarded by mu; dirty[head:] is still to be written
	quit  bool    // guarded by mu
	busy  int     // guarded by mu; goroutines writing a batch
	idle  sync.Cond
	wg    sync.WaitGroup
}

func (p *writerPool) start(workers int) {
	p.cond.L = &p.mu
	p.idle.L = &p.mu
	for range workers {
		p.wg.Go(p.run)
	}
}

// push queues c for writing.
func (p *writerPool) push(c *Conn) {
	p.mu.Lock()
	p.dirty = append(p.dirty, c)
	p.mu.Unlock()
	p.cond.Signal()
}

// stop ends the pool once its queue is empty and waits for its goroutines.
func (p *writerPool) stop() {
	p.mu.Lock()
	p.quit = true
	p.mu.Unlock()
	p.cond.Broadcast()
	p.wg.Wait()
}

func (p *writerPool) run() {
	iov := make([]unix.Iovec, 0, 64)
	batch := make([]*Conn, 0, writerBatch)
	for {
		p.mu.Lock()
		for p.head == len(p.dirty) && !p.quit {
			p.cond.Wait()
		}
		if p.head == len(p.dirty) {
			p.mu.Unlock()
			return
		}
		end := min(p.head+writerBatch, len(p.dirty))
		batch = append(batch[:0], p.dirty[p.head:end]...)
		clear(p.dirty[p.head:end])
		p.head = end
		if p.head == len(p.dirty) {
			p.dirty, p.head = p.dirty[:0], 0
		} else {
			p.cond.Signal() // more work: wake another writer
		}
		p.busy++
		p.mu.Unlock()
		for _, c := range batch {
			p.write(c, &iov)
		}
		clear(batch)
		p.mu.Lock()
		p.busy--
		if p.busy == 0 && p.head == len(p.dirty) {
			p.idle.Broadcast()
		}
		p.mu.Unlock()
		// Non-blocking writes never park this goroutine; yield between batches so HTTP
		// requests and readers are not left waiting for a preemption under a long fan-out.
		runtime.Gosched()
	}
}

// write writes c's queue; a panic releases c alone, on a goroutine of its own, so that this
// pool goroutine goes on even if the panic left c's write lock held.
func (p *writerPool) write(c *Conn, iov *[]unix.Iovec) {
	defer func() {
		if v := recover(); v != nil {
			c.logPanic("writer", v)
			c.srv.spawn(c.release)
		}
	}()
	c.writeQueued(iov)
}

// waitIdle waits until nothing is queued or being written (benchmarks use it to keep the
// writes inside the timed region).
func (p *writerPool) waitIdle() {
	p.mu.Lock()
	for p.busy > 0 || p.head < len(p.dirty) {
		p.idle.Wait()
	}
	p.mu.Unlock()
}

// writev writes bufs to fd with one non-blocking writev and returns the bytes written; a
// full socket buffer (EAGAIN) is not an error. iov is scratch space, reused across calls.
func writev(fd int, bufs net.Buffers, iov *[]unix.Iovec) (int, error) {
	v := (*iov)[:0]
	for _, b := range bufs {
		if len(v) == maxIovecs {
			break
		}
		if len(b) == 0 {
			continue
		}
		vec := unix.Iovec{Base: &b[0]}
		vec.SetLen(len(b))
		v = append(v, vec)
	}
	*iov = v
	if len(v) == 0 {
		return 0, nil
	}
	for {
		n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		default:
			return 0, errno
		}
	}
}
